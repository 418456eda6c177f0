# Wrappers around `sightline install` / `uninstall`, the interface (Docs/operations.md).
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift

BUILD = .build/release
INSTALL_FLAGS = --prefix $(PREFIX) $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))

.PHONY: all install uninstall
all:
	$(SWIFT) build -c release --product sightline
	$(SWIFT) build -c release --product sightlined

install: all
	$(BUILD)/sightline install $(INSTALL_FLAGS)

uninstall:
	$(BUILD)/sightline uninstall $(INSTALL_FLAGS)
