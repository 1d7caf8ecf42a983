import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCIContent
import OCIReference
import OCISpec

/// Blob and manifest uploads: monolithic, chunked, resumed.
extension RemoteRepository {
    // MARK: push

    /// Pushes a blob (POST, then a streamed PUT to the upload location), or a manifest by digest.
    /// A blob the repository already has is not uploaded again. The stream cannot be replayed, so a failed
    /// upload is not resumed; use `push(_:source:)` for that.
    public func push(_ descriptor: Descriptor, content: ByteStream) async throws {
        try await push(descriptor, source: .once(content))
    }

    /// Pushes a blob from a source that can be reopened at an offset: one streamed PUT below the chunked
    /// threshold, PATCH chunks above it, and chunked upload resumed from the registry's `Range` when a
    /// transfer fails. A retry never re-sends from byte 0 on the same upload session.
    public func push(_ descriptor: Descriptor, source: BlobSource) async throws {
        if MediaType.isManifest(descriptor.mediaType) {
            let content = try await source.open(at: 0)
            let bytes: [UInt8]
            if MediaType.isSchema1(descriptor.mediaType) {
                // Verified over the payload, as registries digest schema1; the signatures (and size) may differ.
                bytes = try await content.collect(upTo: ContentLimits.maxManifestBytes)
                let digest = Schema1.manifestDigest(of: bytes, mediaType: descriptor.mediaType, algorithm: descriptor.digest.algorithm)
                guard digest == descriptor.digest else { throw ContentError.digestMismatch(expected: descriptor.digest, actual: digest) }
            } else {
                bytes = try await content.verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
                    .collect(upTo: ContentLimits.maxManifestBytes)
            }
            try await pushManifest(bytes, mediaType: descriptor.mediaType, reference: descriptor.digest.description)
            return
        }
        // One existence check per blob: skipped when `exists` just found this blob missing.
        let checked = await session.takeAbsent("\(name)@\(descriptor.digest)")
        if !checked, try await existsForPush(descriptor) { return }
        try await upload(descriptor, source: source)
    }

    /// Blobs up to this size are pushed by the graph copy without a HEAD first
    /// (`RegistryClient.Configuration.Upload.uncheckedPushLimit`).
    public var uncheckedPushLimit: Int64 { client.configuration.upload.uncheckedPushLimit }

    /// Pushes a blob without asking first whether the repository has it: the upload starts with an anonymous
    /// mount, which a registry that finds the blob answers with 201 (nothing is sent then); others get the blob.
    public func pushUnchecked(_ descriptor: Descriptor, source: BlobSource) async throws {
        guard !MediaType.isManifest(descriptor.mediaType) else { return try await push(descriptor, source: source) }
        try await upload(descriptor, source: source, anonymousMount: true)
    }

    func existsForPush(_ descriptor: Descriptor) async throws -> Bool {
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let response = try await send(.HEAD, try await url("blobs/\(descriptor.digest)"), scopes: pushScopes,
                                      operation: "check", target: target)
        _ = try? await readLimited(response.body, limit: 0)
        return response.status.code == 200
    }

    /// An upload session: where to send the next request, and the registry's minimum chunk size.
    struct UploadSession {
        var location: URL
        var minChunk: Int64
    }

    /// Starts an upload session; nil when the registry answered 201 (it has the blob). With `mounting`, the
    /// request is an anonymous mount of that digest (no `from`): a registry that finds the blob answers 201,
    /// others start the upload as usual; one that refuses the request is asked again without the mount.
    func startUpload(target: String, mounting digest: OCIDigest? = nil) async throws -> UploadSession? {
        let postURL = try await url("blobs/uploads/", query: digest.map { "mount=\($0)" })
        let post = try await send(.POST, postURL, headers: ["Content-Length": "0"], body: .bytes([]), scopes: pushScopes,
                                  operation: "push blob", target: target)
        switch post.status.code {
        case 201:
            _ = try? await readLimited(post.body, limit: 0)
            return nil
        case 202, 200, 204:
            _ = try? await readLimited(post.body, limit: 0)
        case _ where digest != nil:
            // A mount is an optimisation: whatever the refusal, start a plain upload (whose failure is the error).
            _ = try? await readLimited(post.body, limit: 64 * 1024)
            return try await startUpload(target: target)
        default:
            throw await fail(post, operation: "push blob", target: target)
        }
        let location = try uploadURL(post.headers.first(name: "Location"), base: postURL, digest: nil, target: target)
        let minChunk = post.headers.first(name: "OCI-Chunk-Min-Length").flatMap { Int64($0) } ?? 0
        return UploadSession(location: location, minChunk: minChunk)
    }

    func upload(_ descriptor: Descriptor, source: BlobSource, anonymousMount: Bool = false) async throws {
        let target = "\(host)/\(name)@\(descriptor.digest)"
        let policy = client.configuration.upload
        guard let session = try await startUpload(target: target, mounting: anonymousMount ? descriptor.digest : nil)
        else { return }
        if descriptor.size >= policy.chunkedThreshold {
            try await uploadChunked(descriptor, source: source, session: session, target: target)
            return
        }
        do {
            try await uploadMonolithic(descriptor, source: source, session: session, target: target)
        } catch let error as RegistryError {
            // Fall back to a chunked upload on a fresh session when the PUT broke or the server failed;
            // the source must be reopenable for that.
            switch error {
            case .transport, .registry(_, _, 500...599, _, _):
                client.configuration.logger.debug("monolithic upload failed; retrying in chunks",
                                                  metadata: ["digest": "\(descriptor.digest)"])
                guard let fresh = try await startUpload(target: target) else { return }
                do {
                    try await uploadChunked(descriptor, source: source, session: fresh, target: target)
                } catch ContentError.unsupported {
                    throw error
                }
            default:
                throw error
            }
        }
    }

    func uploadMonolithic(_ descriptor: Descriptor, source: BlobSource, session: UploadSession, target: String) async throws {
        let putURL = try uploadURL(session.location.absoluteString, base: session.location, digest: descriptor.digest, target: target)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        let verified = try await source.open(at: 0)
            .verifying(VerificationTarget(digest: descriptor.digest, size: descriptor.size))
        let put = try await send(.PUT, putURL, headers: headers, body: .stream(verified, length: descriptor.size),
                                 scopes: pushScopes, operation: "push blob", target: target)
        try await finishUpload(put, descriptor: descriptor, target: target)
    }

    func finishUpload(_ put: HTTPClientResponse, descriptor: Descriptor, target: String) async throws {
        guard put.status.code == 201 || put.status.code == 204 || put.status.code == 200 else {
            throw await fail(put, operation: "push blob", target: target)
        }
        _ = try? await readLimited(put.body, limit: 0)
        if let returned = put.headers.first(name: "Docker-Content-Digest").flatMap({ OCIDigest($0) }),
           returned.algorithm == descriptor.digest.algorithm, returned != descriptor.digest {
            throw RegistryError.invalidResponse(operation: "push blob", target: target,
                                                why: "the registry stored digest \(returned), expected \(descriptor.digest)")
        }
    }

    /// PATCH chunk by chunk, following each new Location; after a failure, asks the session's status and
    /// resumes from the registry's `Range`.
    func uploadChunked(_ descriptor: Descriptor, source: BlobSource, session: UploadSession, target: String) async throws {
        let policy = client.configuration.upload
        let chunkSize = max(policy.chunkSize, session.minChunk)
        var location = session.location
        var offset: Int64 = 0
        var failures = 0
        var reader = ChunkReader(try await source.open(at: 0))
        while offset < descriptor.size {
            let length = min(chunkSize, descriptor.size - offset)
            let body = Self.limitedStream(reader, length: length)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Range", value: "\(offset)-\(offset + length - 1)")
            do {
                let response = try await send(.PATCH, location, headers: headers, body: .stream(body, length: length),
                                              scopes: pushScopes, operation: "push blob", target: target)
                guard [201, 202, 204].contains(response.status.code) else {
                    throw await fail(response, operation: "push blob", target: target)
                }
                _ = try? await readLimited(response.body, limit: 0)
                if let next = response.headers.first(name: "Location") {
                    location = try uploadURL(next, base: location, digest: nil, target: target)
                }
                let confirmed = response.headers.first(name: "Range").flatMap(Self.rangeEnd).map { $0 + 1 }
                if let confirmed, confirmed != offset + length {
                    throw RegistryError.invalidResponse(operation: "push blob", target: target,
                        why: "the registry holds \(confirmed) bytes after a chunk ending at \(offset + length)")
                }
                offset += length
            } catch let error as RegistryError {
                failures += 1
                guard failures < client.configuration.retry.maxAttempts else { throw error }
                try await Task.sleep(for: client.backoff(attempt: failures, retryAfter: nil))
                let status = try await uploadStatus(location, target: target)
                location = status.location
                offset = status.offset
                reader = ChunkReader(try await source.open(at: offset))
            }
        }
        let putURL = try uploadURL(location.absoluteString, base: location, digest: descriptor.digest, target: target)
        let put = try await send(.PUT, putURL, headers: ["Content-Length": "0"], body: .bytes([]), scopes: pushScopes,
                                 operation: "push blob", target: target)
        try await finishUpload(put, descriptor: descriptor, target: target)
    }

    /// The session's current Location and the number of bytes the registry holds.
    func uploadStatus(_ location: URL, target: String) async throws -> (location: URL, offset: Int64) {
        let response = try await send(.GET, location, scopes: pushScopes, operation: "resume upload", target: target)
        _ = try? await readLimited(response.body, limit: 64 * 1024)
        guard response.status.code == 204 || response.status.code == 202 || response.status.code == 200 else {
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [],
                           operation: "resume upload", target: target))
        }
        let next = try response.headers.first(name: "Location").map { try uploadURL($0, base: location, digest: nil, target: target) } ?? location
        let end = response.headers.first(name: "Range").flatMap(Self.rangeEnd)
        // "0-0" on a session that holds nothing means zero bytes (distribution's convention).
        let offset = end.map { $0 == 0 ? 0 : $0 + 1 } ?? 0
        return (next, offset)
    }

    /// The last byte index of a `Range: [bytes=]START-END` header.
    static func rangeEnd(_ value: String) -> Int64? {
        let v = value.hasPrefix("bytes=") ? String(value.dropFirst(6)) : value
        let parts = v.split(separator: "-")
        guard parts.count == 2 else { return nil }
        return Int64(parts[1].trimmingCharacters(in: .whitespaces))
    }

    /// A stream of exactly the next `length` bytes of `reader`, in pieces of at most 1 MiB.
    static func limitedStream(_ reader: ChunkReader, length: Int64) -> ByteStream {
        let remaining = RemainingCounter(length)
        return ByteStream {
            return {
                let left = remaining.value
                guard left > 0 else { return nil }
                guard let piece = try await reader.read(max: Int(min(left, 1 << 20))) else {
                    throw ContentError.sizeMismatch(digest: EmptyJSON.digest, expected: length, actual: length - left)
                }
                remaining.subtract(Int64(piece.count))
                return piece
            }
        }
    }

    /// The upload URL from a `Location` header (relative or absolute; its host is kept), with `digest=` added.
    /// A Location that would move from HTTPS to HTTP is refused.
    func uploadURL(_ location: String?, base: URL, digest: OCIDigest?, target: String) throws -> URL {
        guard let location, let resolved = URL(string: location, relativeTo: base)?.absoluteURL,
              var components = URLComponents(url: resolved, resolvingAgainstBaseURL: true)
        else {
            throw RegistryError.invalidResponse(operation: "push blob", target: target, why: "no upload Location")
        }
        guard components.scheme == "https" || (components.scheme == "http" && base.scheme == "http") else {
            throw RegistryError.unsafeRedirect(from: base.redactedString, to: resolved.redactedString,
                                               why: "the upload location leaves HTTPS")
        }
        if let digest {
            var items = components.percentEncodedQueryItems ?? []
            items.append(URLQueryItem(name: "digest", value: digest.description))
            components.percentEncodedQueryItems = items
        }
        guard let url = components.url else {
            throw RegistryError.invalidResponse(operation: "push blob", target: target, why: "invalid upload Location")
        }
        return url
    }
}
