#ifndef SIGHTLINE_CLIBCRYPTO_SHIM_H
#define SIGHTLINE_CLIBCRYPTO_SHIM_H
// OpenSSL's libcrypto (Debian's libssl-dev) for the hashes a model pull verifies: SHA-256 of
// LFS objects and SHA-1 of git blobs. Only the EVP digest interface is used.
#include <openssl/evp.h>
#endif
