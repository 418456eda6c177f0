import Foundation
import SightlineCore

/// One file of a repository at a commit, with what the hub says it must be.
public struct HubFile: Sendable, Codable, Equatable {
    public var name: String
    public var size: Int64
    /// The LFS object's SHA-256 (large files such as `model.safetensors`).
    public var sha256: String?
    /// The git blob id, a SHA-1 over `blob <size>\0<content>` (small files kept in git).
    public var gitBlobID: String?

    public init(name: String, size: Int64, sha256: String? = nil, gitBlobID: String? = nil) {
        self.name = name
        self.size = size
        self.sha256 = sha256
        self.gitBlobID = gitBlobID
    }
}

/// A repository at one commit: what `/api/models/<id>/revision/<rev>?blobs=true` answers.
public struct RepoInfo: Sendable, Equatable {
    public var repo: RepoID
    /// The full commit hash the revision resolved to; files are downloaded from it, so that a
    /// push during a pull cannot mix two versions.
    public var commit: String
    public var files: [HubFile]

    /// Decodes the hub's JSON. Files without a size, or without either hash, are refused
    /// because nothing downloaded is used unchecked.
    public init(repo: RepoID, json: Data) throws {
        struct Wire: Decodable {
            struct Sibling: Decodable {
                struct LFS: Decodable { var sha256: String; var size: Int64? }
                var rfilename: String
                var size: Int64?
                var blobId: String?
                var lfs: LFS?
            }
            var sha: String
            var siblings: [Sibling]
        }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: json)
        } catch {
            throw SightlineError(.hubError, "the hub's answer about \(repo) is not the metadata expected: \(error)", context: ["repo": "\(repo)"])
        }
        guard wire.sha.count == 40, wire.sha.allSatisfy(\.isHexDigit) else {
            throw SightlineError(.hubError, "the hub gave no commit hash for \(repo)", context: ["repo": "\(repo)", "sha": wire.sha])
        }
        self.repo = repo
        commit = wire.sha.lowercased()
        files = wire.siblings.map {
            HubFile(name: $0.rfilename, size: $0.lfs?.size ?? $0.size ?? -1, sha256: $0.lfs?.sha256.lowercased(), gitBlobID: $0.blobId?.lowercased())
        }
    }

    public init(repo: RepoID, commit: String, files: [HubFile]) {
        self.repo = repo
        self.commit = commit
        self.files = files
    }

    /// The files of a CLIP checkpoint in Hugging Face layout, config first and weights last:
    /// `config.json`, the tokenizer (`vocab.json` + `merges.txt`, else `tokenizer.json`),
    /// `model.safetensors`.
    public func checkpointFiles() throws -> [HubFile] {
        let byName = Dictionary(files.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        func missing(_ what: String) -> SightlineError {
            SightlineError(.hubNotFound, "\(repo) at \(commit.prefix(12)) has no \(what); a CLIP checkpoint needs config.json, model.safetensors and vocab.json + merges.txt (or tokenizer.json)", context: ["repo": "\(repo)", "files": files.map(\.name).sorted().joined(separator: ",")])
        }
        guard let config = byName["config.json"] else { throw missing("config.json") }
        guard let weights = byName["model.safetensors"] else {
            if byName["model.safetensors.index.json"] != nil {
                throw SightlineError(.modelMismatch, "\(repo) is a sharded checkpoint (model.safetensors.index.json); Sightline reads a single model.safetensors", context: ["repo": "\(repo)"])
            }
            throw missing("model.safetensors (Sightline reads safetensors only, not pytorch_model.bin)")
        }
        let tokenizer: [HubFile]
        if let vocab = byName["vocab.json"], let merges = byName["merges.txt"] {
            tokenizer = [vocab, merges]
        } else if let combined = byName["tokenizer.json"] {
            tokenizer = [combined]
        } else {
            throw missing("tokenizer (vocab.json + merges.txt or tokenizer.json)")
        }
        let selected = [config] + tokenizer + [weights]
        for file in selected where file.size < 0 || (file.sha256 == nil && file.gitBlobID == nil) {
            throw SightlineError(.hubError, "the hub's metadata gives no size or hash for \(file.name), so its download could not be checked", context: ["repo": "\(repo)", "file": file.name])
        }
        return selected
    }
}
