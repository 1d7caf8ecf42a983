import Foundation
import NIOCore
import NIOHTTP1
import OCISync

// The request and document types the in-process registry's routes share: byte ranges, media types, the
// manifest check (split from InProcessRegistry+Routes.swift, which keeps the dispatch and the handlers).

/// The `Range` request header of a blob GET.
enum RegistryByteRange: Equatable {
    case none
    case unsatisfiable
    case range(Range<Int>)

    /// One `bytes=` range (`a-b`, `a-`, `-n`); anything else is ignored, as HTTP allows.
    static func parse(_ header: String?, size: Int) -> RegistryByteRange {
        guard let header = header?.trimmingCharacters(in: .whitespaces), header.hasPrefix("bytes=") else { return .none }
        let spec = header.dropFirst(6)
        guard !spec.contains(",") else { return .none }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .none }
        let first = parts[0].trimmingCharacters(in: .whitespaces), second = parts[1].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let suffix = Int(second), suffix >= 0 else { return .none }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .range(max(0, size - suffix)..<size)
        }
        guard let start = Int(first), start >= 0 else { return .none }
        guard start < size else { return .unsatisfiable }
        if second.isEmpty { return .range(start..<size) }
        guard let end = Int(second), end >= start else { return .none }
        return .range(start..<(end >= size - 1 ? size : end + 1))
    }
}

/// Media types the registry knows.
enum RegistryMediaTypes {
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let schema1 = ["application/vnd.docker.distribution.manifest.v1+json",
                          "application/vnd.docker.distribution.manifest.v1+prettyjws"]
    static let nonDistributable = ["application/vnd.oci.image.layer.nondistributable.v1.tar",
                                   "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                                   "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                                   "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"]
}

/// What a manifest PUT must reference and what the referrers API lists.
struct RegistryManifestCheck {
    var mediaType: String
    var blobs: [CheckedDigest] = []
    var children: [CheckedDigest] = []
    var subject: CheckedDigest?
    var artifactType: String?
    var annotations: [String: String]?

    static func parse(_ bytes: [UInt8], contentType: String) throws -> RegistryManifestCheck {
        func invalid(_ detail: String) -> RegistryFailure { RegistryFailure(.manifestInvalid, detail) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw invalid("the manifest is not a JSON object")
        }
        let bodyType = object["mediaType"] as? String
        let mediaType = contentType.isEmpty ? (bodyType ?? "") : contentType
        guard !mediaType.isEmpty else { throw invalid("no Content-Type and no mediaType") }
        if let bodyType, bodyType != mediaType {
            throw invalid("mediaType \(bodyType) does not match Content-Type \(mediaType)")
        }
        if RegistryMediaTypes.schema1.contains(mediaType) { throw invalid("schema1 manifests are not accepted") }
        let isImage = mediaType == RegistryMediaTypes.ociManifest || mediaType == RegistryMediaTypes.dockerManifest
        let isIndex = mediaType == RegistryMediaTypes.ociIndex || mediaType == RegistryMediaTypes.dockerList
        guard isImage || isIndex else { throw invalid("unsupported manifest media type \(mediaType)") }
        guard (object["schemaVersion"] as? Int) == 2 else { throw invalid("schemaVersion must be 2") }

        func descriptor(_ value: Any?, _ what: String) throws -> (CheckedDigest, [String: Any]) {
            guard let d = value as? [String: Any], let text = d["digest"] as? String else {
                throw invalid("\(what) is not a descriptor")
            }
            guard let digest = CheckedDigest(text) else { throw invalid("\(what) has an invalid digest \"\(text)\"") }
            guard d["size"] is Int, (d["size"] as? Int ?? -1) >= 0 else { throw invalid("\(what) has no valid size") }
            guard d["mediaType"] is String else { throw invalid("\(what) has no mediaType") }
            return (digest, d)
        }

        var check = RegistryManifestCheck(mediaType: mediaType)
        if isImage {
            let (config, configObject) = try descriptor(object["config"], "config")
            check.blobs.append(config)
            guard let layers = (object["layers"] ?? [Any]()) as? [Any] else { throw invalid("layers is not an array") }
            for (i, layer) in layers.enumerated() {
                let (digest, d) = try descriptor(layer, "layer \(i)")
                // Foreign (non-distributable) layers with URLs need not be in the registry.
                let foreign = (d["urls"] as? [Any]).map { !$0.isEmpty } ?? false
                if foreign, RegistryMediaTypes.nonDistributable.contains(d["mediaType"] as? String ?? "") { continue }
                check.blobs.append(digest)
            }
            check.artifactType = (object["artifactType"] as? String) ?? (configObject["mediaType"] as? String)
        } else {
            guard let manifests = (object["manifests"] ?? [Any]()) as? [Any] else { throw invalid("manifests is not an array") }
            for (i, child) in manifests.enumerated() {
                check.children.append(try descriptor(child, "manifest \(i)").0)
            }
            check.artifactType = object["artifactType"] as? String
        }
        if let subject = object["subject"] {
            check.subject = try descriptor(subject, "subject").0
        }
        if let annotations = object["annotations"] {
            guard let map = annotations as? [String: String] else { throw invalid("annotations must map strings to strings") }
            check.annotations = map
        }
        return check
    }
}
