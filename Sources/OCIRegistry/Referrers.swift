import AsyncHTTPClient
import Foundation
import NIOHTTP1
import OCIContent
import OCISpec

/// OCI 1.1 referrers: the referrers API where the registry has it, the `sha256-HEX` tag schema where it has not.
extension RemoteRepository {
    /// The tag the referrers tag schema uses for a subject: `<alg>-<hex>`.
    public static func referrersTag(for subject: OCIDigest) -> String {
        "\(subject.algorithm.rawValue)-\(subject.encoded)"
    }

    /// The manifests whose `subject` is `subject`, optionally only those of one artifact type. Uses
    /// `GET /v2/NAME/referrers/DIGEST` (all pages); when the registry has no referrers API, reads the index
    /// tagged `sha256-HEX` instead.
    public func referrers(of subject: OCIDigest, artifactType: String? = nil) async throws -> [Descriptor] {
        let target = "\(host)/\(name)@\(subject)"
        let scheme = try await client.registryHost(host).ping().scheme
        var query = "n=1000"
        if let artifactType, let encoded = artifactType.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) {
            query += "&artifactType=\(encoded)"
        }
        guard let first = URL(string: "\(scheme)://\(host)/v2/\(name)/referrers/\(subject)?\(query)") else {
            throw RegistryError.invalidArgument("cannot build a referrers URL for \(target)")
        }
        var found: [Descriptor] = []
        do {
            try await client.paginate(first: first, session: client.registryHost(host), scopes: scopes, repository: name,
                                      operation: "list referrers of", target: target) { body in
                let index = try JSONCoding.decode(ImageIndex.self, from: body)
                found.append(contentsOf: index.manifests)
            }
        } catch let error as RegistryError where error.isNotFound || Self.isUnsupported(error) {
            found = try await referrersFromTag(of: subject)
        } catch let unauthorized as RegistryError where unauthorized.isUnauthorized {
            // Harbor 2.7 answers the referrers API it lacks with 401 and no challenge; the tag schema may still
            // work. When it does not either, the 401 is the error.
            do { found = try await referrersFromTag(of: subject) } catch { throw unauthorized }
        }
        if let artifactType { found = found.filter { $0.artifactType == artifactType } }
        return found
    }

    static func isUnsupported(_ error: RegistryError) -> Bool {
        if case .registry(_, _, let status, _, _) = error { return status == 400 || status == 405 || status == 501 }
        return false
    }

    /// The descriptors listed in the fallback tag's index (empty when the tag does not exist).
    func referrersFromTag(of subject: OCIDigest) async throws -> [Descriptor] {
        do {
            let (descriptor, bytes) = try await fetchManifest(Self.referrersTag(for: subject))
            // Only an OCI index other than the subject counts: some registries (GitLab) resolve the `sha256-HEX`
            // tag to the subject itself, whose children are not its referrers.
            guard descriptor.mediaType == MediaType.ociIndex, descriptor.digest != subject else { return [] }
            return try JSONCoding.decode(ImageIndex.self, from: bytes).manifests
        } catch let error as RegistryError where error.isNotFound {
            return []
        }
    }

    /// Keeps the fallback tag's index up to date after pushing (`adding`) or deleting a manifest with a subject.
    func updateReferrersTag(subject: OCIDigest, adding: Descriptor?, removing: OCIDigest?) async throws {
        var manifests = try await referrersFromTag(of: subject)
        if let removing { manifests.removeAll { $0.digest == removing } }
        if let adding {
            guard !manifests.contains(where: { $0.digest == adding.digest }) else { return }
            manifests.append(adding)
        }
        let index = ImageIndex(manifests: manifests)
        let bytes = try JSONCoding.encode(index)
        try await pushManifest(bytes, mediaType: MediaType.ociIndex, reference: Self.referrersTag(for: subject),
                               maintainReferrers: false)
    }

    /// The descriptor that a referrers index lists for a manifest: media type, digest, size, artifact type
    /// (the config's media type when the manifest has none) and annotations.
    static func referrerDescriptor(for bytes: [UInt8], mediaType: String) -> (subject: OCIDigest, descriptor: Descriptor)? {
        guard let document = try? ManifestDocument.decode(bytes, mediaType: mediaType), let subject = document.subject else {
            return nil
        }
        var d = Descriptor.of(bytes, mediaType: mediaType)
        switch document {
        case .manifest(let m):
            d.artifactType = m.artifactType ?? m.config.mediaType
            d.annotations = m.annotations
        case .index(let i):
            d.artifactType = i.artifactType
            d.annotations = i.annotations
        case .schema1:
            return nil
        }
        return (subject.digest, d)
    }

    /// Deletes the manifest `reference` names (resolving a tag first). Deleting by digest removes every tag
    /// that points to it. A manifest with a subject is also removed from the referrers fallback index.
    public func deleteManifest(_ reference: String) async throws -> Descriptor {
        let descriptor = try await resolve(reference)
        var bytes: [UInt8]?
        if MediaType.isManifest(descriptor.mediaType) {
            bytes = try? await fetchManifest(descriptor.digest.description).bytes
        }
        try await delete(descriptor)
        if let bytes, let (subject, _) = Self.referrerDescriptor(for: bytes, mediaType: descriptor.mediaType),
           try await referrersAPIAbsent(subject) {
            try await updateReferrersTag(subject: subject, adding: nil, removing: descriptor.digest)
        }
        return descriptor
    }

    /// Removes a tag but not the manifest. Uses `DELETE /manifests/TAG` where the registry allows it; where it
    /// does not (distribution answers 400 or 405), points the tag at a tiny placeholder manifest and deletes
    /// that by digest.
    public func untag(_ tag: String) async throws {
        let target = "\(host)/\(name):\(tag)"
        let response = try await client.perform(
            RegistryRequest(method: .DELETE, url: try await manifestURL(tag), scopes: ["repository:\(name):delete,pull,push"],
                            repository: name, operation: "delete tag", target: target),
            on: client.registryHost(host))
        _ = try? await readLimited(response.body, limit: 64 * 1024)
        if (200..<300).contains(response.status.code) { return }
        guard [400, 404, 405, 501].contains(response.status.code) else {
            throw await session.annotated(errorFor(status: Int(response.status.code), headers: response.headers, body: [],
                           operation: "delete tag", target: target))
        }
        _ = try await resolve(tag)  // a missing tag is a not-found error, not a placeholder push
        try await push(EmptyJSON.descriptor, source: .bytes(EmptyJSON.bytes))
        let placeholder = Manifest(artifactType: "application/vnd.ociclient.untagged.v1", config: EmptyJSON.descriptor,
                                   layers: [EmptyJSON.descriptor],
                                   annotations: ["org.opencontainers.image.description": "placeholder for untagging \(tag)"])
        let bytes = try JSONCoding.encode(placeholder)
        let d = try await pushManifest(bytes, mediaType: MediaType.ociManifest, reference: tag)
        try await delete(d)
    }

    func manifestURL(_ reference: String) async throws -> URL {
        let scheme = try await client.registryHost(host).ping().scheme
        guard let url = URL(string: "\(scheme)://\(host)/v2/\(name)/manifests/\(reference)") else {
            throw RegistryError.invalidArgument("cannot build a URL for \(host)/\(name)")
        }
        return url
    }

    /// Whether the registry lacks the referrers API (a 404 or unsupported answer on the endpoint).
    func referrersAPIAbsent(_ subject: OCIDigest) async throws -> Bool {
        let target = "\(host)/\(name)@\(subject)"
        let scheme = try await client.registryHost(host).ping().scheme
        guard let url = URL(string: "\(scheme)://\(host)/v2/\(name)/referrers/\(subject)") else { return true }
        let response = try await client.perform(
            RegistryRequest(method: .GET, url: url, scopes: scopes, repository: name, operation: "list referrers of", target: target),
            on: client.registryHost(host))
        let body = try await readLimited(response.body, limit: 64 * 1024)
        if response.status.code == 200,
           MediaType.normalise(contentType: response.headers.first(name: "Content-Type") ?? "") == MediaType.ociIndex
            || (try? JSONCoding.decode(ImageIndex.self, from: body)) != nil {
            return false
        }
        return true
    }
}
