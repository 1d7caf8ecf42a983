import Foundation
import OCIContent
import OCISpec
import OCISync

// Docker schema1 → OCI image conversion (Go: `manifest_v1_conversion.go`), with the Go bugs fixed:
// layers stream instead of being buffered twice, a history shorter than the layer list is an error instead of
// a crash, config keys are removed case-insensitively (they are parsed case-insensitively), and the converted
// manifest is deterministic and says where it came from.

/// Errors of the schema1 → OCI conversion.
public enum Schema1ConversionError: Error, Sendable, CustomStringConvertible {
    /// The schema1 document is not valid JSON or lacks `fsLayers`/`history`.
    case invalidManifest(String)
    /// `history` and `fsLayers` differ in length (or the manifest has no layers at all).
    case historyMismatch(fsLayers: Int, history: Int)
    /// A `history[i].v1Compatibility` cannot be parsed.
    case invalidHistory(index: Int, why: String)
    /// A layer uses a compression this package cannot decompress, so its diffID cannot be computed. (gzip and
    /// zstd, the two containerd detects, are both decompressed; nothing in this package throws this today.)
    case unsupportedCompression(blobSum: OCIDigest, compression: String)
    /// A layer's compressed data is damaged.
    case corruptLayer(blobSum: OCIDigest, why: String)
    /// A layer blob could not be fetched or failed verification.
    case layerFetchFailed(blobSum: OCIDigest, underlying: any Error)
    /// The converted config or manifest cannot be stored in the cache.
    case cacheFailed(OCIDigest, underlying: any Error)

    public var description: String {
        switch self {
        case .invalidManifest(let why):
            return "unable to convert schema1 manifest: \(why)"
        case .historyMismatch(0, _):
            return "unable to convert schema1 manifest: it has no fsLayers"
        case .historyMismatch(let layers, let history):
            return "unable to convert schema1 manifest: it has \(layers) fsLayers but \(history) history entries; "
                + "schema1 requires one history entry per layer, so the manifest is malformed"
        case .invalidHistory(let index, let why):
            return "unable to convert schema1 manifest: history[\(index)].v1Compatibility is invalid: \(why)"
        case .unsupportedCompression(let blobSum, let compression):
            return "unable to compute the diffID of layer \(blobSum): \(compression) decompression is not supported; "
                + "copy the image with a tool that converts schema1 (e.g. skopeo copy --format oci) instead"
        case .corruptLayer(let blobSum, let why):
            return "unable to decompress layer \(blobSum): \(why)"
        case .layerFetchFailed(let blobSum, let underlying):
            return "unable to fetch layer blob \(blobSum): \(underlying)"
        case .cacheFailed(let digest, let underlying):
            return "unable to store converted content \(digest): \(underlying)"
        }
    }
}

/// The outcome of a schema1 conversion: the OCI manifest and config (both generated here, unknown to the
/// registry) plus what was learned on the way.
public struct Schema1ConversionResult: Sendable {
    /// The schema1 manifest that was converted (its digest is the registry's: over the JWS payload).
    public var source: Descriptor?
    /// The converted OCI image manifest. It carries the annotation ``Schema1Converter/sourceDigestAnnotation``
    /// with the schema1 digest, because its own digest is new (only this descriptor has the annotation, not
    /// the manifest JSON).
    public var manifest: Descriptor
    /// The converted manifest's JSON (deterministic: sorted keys).
    public var manifestBytes: [UInt8]
    /// The generated OCI image config.
    public var config: Descriptor
    /// The generated config's JSON.
    public var configBytes: [UInt8]
    /// Layer descriptors, base first (empty layers left out, duplicates kept).
    public var layers: [Descriptor]
    /// sha256 of each layer's uncompressed content, in `layers` order.
    public var diffIDs: [OCIDigest]
    /// One history entry per schema1 layer, base first, empty layers included.
    public var history: [Schema1Converter.History]
}

/// Converts Docker schema1 manifests (signed or not) into OCI image manifests (Go: `ConvertV1ManifestToV2`,
/// `ParseV1Manifest`, `CreateConfig`, `CreateV2Manifest`).
///
/// The algorithm is Go's: walk `fsLayers` from last to first (base first); for each, a history entry from its
/// `v1Compatibility`; non-empty layers are fetched by `blobSum`, their compression detected from the first bytes
/// and their diffID computed from the decompressed stream; the config is `history[0].v1Compatibility` without
/// the v1 keys, plus `rootfs` and `history`. Signatures are not verified: registries re-sign schema1 with an
/// ephemeral key on every GET, so a signature proves nothing; integrity comes from the payload digest that the
/// registry client checks.
public struct Schema1Converter: Sendable {
    /// Annotation on ``Schema1ConversionResult/manifest`` naming the schema1 manifest's digest.
    public static let sourceDigestAnnotation = "io.github.swift-ociclient.schema1.digest"

    /// Where layer blobs are read from: the schema1 manifest's repository (or any store holding the blobs).
    public let fetcher: any ContentFetcher
    /// How many layers are read at once.
    public let concurrency: Int

    public init(fetcher: any ContentFetcher, concurrency: Int = 3) {
        self.fetcher = fetcher
        self.concurrency = max(1, concurrency)
    }

    /// One `history` item of an OCI image config (Go: `ocispecv1.History`).
    public typealias History = ImageConfiguration.History

    // MARK: conversion

    /// Converts schema1 manifest bytes (signed or not). Layer blobs are read from ``fetcher``. When `cache` is
    /// given, the converted config and manifest are pushed to it, so that fetches of the converted descriptors
    /// can be served from there.
    public func convert(_ bytes: [UInt8], source: Descriptor? = nil,
                        into cache: (any ContentPusher)? = nil) async throws -> Schema1ConversionResult {
        let manifest: V1Manifest
        do {
            manifest = try JSONCoding.decode(V1Manifest.self, from: bytes)
        } catch {
            throw Schema1ConversionError.invalidManifest("\(error)")
        }
        let (layers, diffIDs, history) = try await parse(manifest)
        let (config, configBytes) = try Self.makeConfig(manifest, diffIDs: diffIDs, history: history)
        let (plainManifest, manifestBytes) = try Self.makeManifest(config: config, layers: layers)
        var manifestDescriptor = plainManifest
        if let cache {
            for (descriptor, content) in [(config, configBytes), (manifestDescriptor, manifestBytes)] {
                do {
                    try await cache.push(descriptor, content: ByteStream(bytes: content))
                } catch {
                    throw Schema1ConversionError.cacheFailed(descriptor.digest, underlying: error)
                }
            }
        }
        let sourceDigest = source?.digest ?? OCIDigest.of(Schema1.payload(of: bytes))
        manifestDescriptor.annotations = [Self.sourceDigestAnnotation: sourceDigest.description]
        return Schema1ConversionResult(source: source, manifest: manifestDescriptor, manifestBytes: manifestBytes,
                                       config: config, configBytes: configBytes, layers: layers, diffIDs: diffIDs,
                                       history: history)
    }

    /// Builds layers, diffIDs and history from a schema1 manifest, base first (Go: `ParseV1Manifest`).
    /// Empty layers (`throwaway: true`, else `Size: 0`) get a history entry but are not fetched. Every distinct
    /// blob is read once, up to ``concurrency`` at a time; duplicates appear again in the result.
    public func parse(_ manifest: V1Manifest) async throws
        -> (layers: [Descriptor], diffIDs: [OCIDigest], history: [History]) {
        guard !manifest.fsLayers.isEmpty, manifest.history.count == manifest.fsLayers.count else {
            throw Schema1ConversionError.historyMismatch(fsLayers: manifest.fsLayers.count, history: manifest.history.count)
        }
        var history: [History] = []
        var nonEmpty: [OCIDigest] = []
        for i in stride(from: manifest.fsLayers.count - 1, through: 0, by: -1) {
            let parsed = try ParsedV1History(manifest.history[i].v1Compatibility, index: i)
            // Empty strings and a false empty_layer are absent, as in Go's JSON (omitempty).
            func omitEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }
            history.append(History(created: parsed.created, createdBy: omitEmpty(parsed.cmd.joined(separator: " ")),
                                   author: omitEmpty(parsed.author), comment: omitEmpty(parsed.comment),
                                   emptyLayer: parsed.isEmptyLayer ? true : nil))
            if !parsed.isEmptyLayer { nonEmpty.append(manifest.fsLayers[i].blobSum) }
        }
        let infos = try await inspect(Array(Set(nonEmpty)))
        var layers: [Descriptor] = []
        var diffIDs: [OCIDigest] = []
        for blobSum in nonEmpty {
            guard let info = infos[blobSum] else { continue }
            layers.append(Descriptor(mediaType: info.mediaType, digest: blobSum, size: info.size))
            diffIDs.append(info.diffID)
        }
        return (layers, diffIDs, history)
    }

    private func inspect(_ blobSums: [OCIDigest]) async throws -> [OCIDigest: Schema1LayerInfo] {
        let fetcher = self.fetcher
        let infos = try await concurrentMap(blobSums, limit: concurrency) { blobSum -> (OCIDigest, Schema1LayerInfo) in
            // Size unknown (-1): only the digest is verified, while the stream is read.
            let descriptor = Descriptor(mediaType: "application/octet-stream", digest: blobSum, size: -1)
            do {
                let stream = try await fetcher.fetch(descriptor)
                return (blobSum, try await Schema1Converter.inspectLayer(stream, blobSum: blobSum))
            } catch let error as Schema1ConversionError {
                throw error
            } catch let error as CancellationError {
                throw error
            } catch {
                throw Schema1ConversionError.layerFetchFailed(blobSum: blobSum, underlying: error)
            }
        }
        return Dictionary(infos, uniquingKeysWith: { first, _ in first })
    }

    // MARK: documents

    /// Keys of `v1Compatibility` that are not image config (compared case-insensitively). `rootfs` and
    /// `history` are replaced by the generated ones.
    static let droppedConfigKeys: Set<String> = ["id", "parent", "size", "parent_id", "layer_id", "throwaway",
                                                  "rootfs", "history"]

    /// The OCI image config: `history[0].v1Compatibility` (the newest layer's) without `id`, `parent`, `Size`,
    /// `parent_id`, `layer_id`, `throwaway` (any letter case), plus `rootfs` and `history` (Go: `CreateConfig`).
    /// Other keys keep their JSON values verbatim (compacted); keys are sorted, so the bytes are deterministic.
    public static func makeConfig(_ manifest: V1Manifest, diffIDs: [OCIDigest],
                                  history: [History]) throws(Schema1ConversionError) -> (descriptor: Descriptor, bytes: [UInt8]) {
        guard let newest = manifest.history.first else {
            throw .historyMismatch(fsLayers: manifest.fsLayers.count, history: 0)
        }
        let members: [RawJSON.Member]
        do {
            members = try RawJSON.members(of: Array(newest.v1Compatibility.utf8))
        } catch {
            throw .invalidHistory(index: 0, why: error.message)
        }
        var object: [String: [UInt8]] = [:]
        for member in members where !droppedConfigKeys.contains(member.key.lowercased()) {
            object[member.key] = member.value
        }
        struct RootFS: Encodable {
            var type = "layers"
            var diffIDs: [OCIDigest]
            enum CodingKeys: String, CodingKey { case type; case diffIDs = "diff_ids" }
        }
        do {
            object["rootfs"] = try JSONCoding.encode(RootFS(diffIDs: diffIDs))
            object["history"] = try JSONCoding.encode(history)
        } catch {
            throw .invalidManifest("cannot encode the config: \(error)")
        }
        let bytes = RawJSON.object(object)
        return (Descriptor.of(bytes, mediaType: MediaType.ociConfig), bytes)
    }

    /// The OCI image manifest `{"config","layers","mediaType","schemaVersion":2}` (Go: `CreateV2Manifest`, which
    /// left out `mediaType`).
    public static func makeManifest(config: Descriptor,
                                    layers: [Descriptor]) throws(Schema1ConversionError) -> (descriptor: Descriptor, bytes: [UInt8]) {
        let manifest = Manifest(schemaVersion: 2, mediaType: MediaType.ociManifest, config: config, layers: layers)
        do {
            let bytes = try JSONCoding.encode(manifest)
            return (Descriptor.of(bytes, mediaType: MediaType.ociManifest), bytes)
        } catch {
            throw .invalidManifest("cannot encode the manifest: \(error)")
        }
    }
}

extension Schema1ConversionError: OCIError {
    public var kind: OCIErrorKind {
        switch self {
        case .invalidManifest, .historyMismatch, .invalidHistory: return .invalidResponse
        case .unsupportedCompression: return .unsupported
        case .corruptLayer: return .integrity
        case .layerFetchFailed(_, let underlying), .cacheFailed(_, let underlying): return underlying.ociErrorKind ?? .network
        }
    }
}
