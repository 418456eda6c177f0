import Foundation
import SightlineCore
import Testing
@testable import SightlineHub

@Suite struct RepoInfoTests {
    @Test(arguments: ["openai/clip-vit-base-patch16", "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "gpt2", "a_b/c.d"])
    func validRepoIDs(text: String) throws {
        #expect(try RepoID(text).description == text)
    }

    @Test(arguments: ["", "/", "a/b/c", "../x", "a/..", "-a/b", "a/b-", "a--b/c", "a b/c", "a/.b", "é/x", String(repeating: "a", count: 97)])
    func invalidRepoIDs(text: String) {
        #expect(throws: SightlineError.self) { try RepoID(text) }
    }

    static let sample = #"""
    {"_id":"x","id":"openai/clip-vit-base-patch16","sha":"57C216476EEFEF5AB752EC549E440A49AE4AE5F3",
     "siblings":[
      {"rfilename":".gitattributes","blobId":"aaaa","size":10},
      {"rfilename":"config.json","blobId":"0123456789abcdef0123456789abcdef01234567","size":4100},
      {"rfilename":"merges.txt","blobId":"1123456789abcdef0123456789abcdef01234567","size":524619},
      {"rfilename":"model.safetensors","blobId":"2123456789abcdef0123456789abcdef01234567","size":599,
       "lfs":{"sha256":"ABCDEF0000000000000000000000000000000000000000000000000000000000","size":598641023,"pointerSize":135}},
      {"rfilename":"tokenizer.json","blobId":"3123456789abcdef0123456789abcdef01234567","size":2224003},
      {"rfilename":"vocab.json","blobId":"4123456789abcdef0123456789abcdef01234567","size":961143}
     ]}
    """#

    @Test func decodesTheHubsMetadata() throws {
        let info = try RepoInfo(repo: RepoID("openai/clip-vit-base-patch16"), json: Data(Self.sample.utf8))
        #expect(info.commit == "57c216476eefef5ab752ec549e440a49ae4ae5f3")
        let files = try info.checkpointFiles()
        #expect(files.map(\.name) == ["config.json", "vocab.json", "merges.txt", "model.safetensors"])
        // The LFS size and hash win over the pointer's.
        #expect(files[3].size == 598_641_023)
        #expect(files[3].sha256 == "abcdef0000000000000000000000000000000000000000000000000000000000")
        #expect(files[0].sha256 == nil && files[0].gitBlobID == "0123456789abcdef0123456789abcdef01234567")
    }

    @Test func fallsBackToTokenizerJSON() throws {
        let repo = try RepoID("a/b")
        let info = RepoInfo(repo: repo, commit: String(repeating: "a", count: 40), files: [
            HubFile(name: "config.json", size: 1, gitBlobID: "x"),
            HubFile(name: "tokenizer.json", size: 1, gitBlobID: "y"),
            HubFile(name: "vocab.json", size: 1, gitBlobID: "z"),
            HubFile(name: "model.safetensors", size: 1, sha256: "w"),
        ])
        #expect(try info.checkpointFiles().map(\.name) == ["config.json", "tokenizer.json", "model.safetensors"])
    }

    @Test(arguments: [
        (["config.json", "vocab.json", "merges.txt"], "model.safetensors"),
        (["config.json", "vocab.json", "merges.txt", "pytorch_model.bin"], "safetensors only"),
        (["config.json", "vocab.json", "merges.txt", "model.safetensors.index.json"], "sharded"),
        (["model.safetensors", "vocab.json", "merges.txt"], "config.json"),
        (["config.json", "model.safetensors", "vocab.json"], "tokenizer"),
    ])
    func refusesIncompleteCheckpoints(names: [String], mentioned: String) throws {
        let info = RepoInfo(repo: try RepoID("a/b"), commit: String(repeating: "a", count: 40), files: names.map { HubFile(name: $0, size: 1, sha256: "s") })
        let error = #expect(throws: SightlineError.self) { try info.checkpointFiles() }
        #expect(error?.message.contains(mentioned) == true)
    }

    @Test func refusesFilesWithoutHashes() throws {
        let info = RepoInfo(repo: try RepoID("a/b"), commit: String(repeating: "a", count: 40), files: [
            HubFile(name: "config.json", size: 1), HubFile(name: "tokenizer.json", size: 1, gitBlobID: "y"),
            HubFile(name: "model.safetensors", size: 1, sha256: "w"),
        ])
        let error = #expect(throws: SightlineError.self) { try info.checkpointFiles() }
        #expect(error?.context["file"] == "config.json")
    }

    @Test(arguments: ["not json", #"{"sha":"abc","siblings":[]}"#, #"{"siblings":[]}"#, #"{"sha":"57c216476eefef5ab752ec549e440a49ae4ae5f3"}"#])
    func rejectsMalformedMetadata(json: String) throws {
        let error = #expect(throws: SightlineError.self) { try RepoInfo(repo: RepoID("a/b"), json: Data(json.utf8)) }
        #expect(error?.code == .hubError)
    }

    @Test(arguments: [
        (["HF_ENDPOINT": "ftp://mirror"], true),
        (["HF_ENDPOINT": "not a url"], true),
        (["HF_ENDPOINT": "http://127.0.0.1:9/"], false),
        ([:], false),
    ])
    func readsTheEndpointFromTheEnvironment(environment: [String: String], fails: Bool) {
        let logger = Logger(label: "test")
        if fails {
            #expect(throws: SightlineError.self) { try HubClient(environment: environment, logger: logger) }
        } else {
            #expect(throws: Never.self) { try HubClient(environment: environment, logger: logger) }
        }
    }
}

import Logging
