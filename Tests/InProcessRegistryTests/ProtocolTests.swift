import Foundation
import NIOHTTP1
import OCISpec
import OCITesting
import XCTest

/// The distribution API as the spec writes it, checked with raw HTTP: status codes, headers, error codes.
final class ProtocolTests: XCTestCase {
    private func withRaw(_ configuration: InProcessRegistry.Configuration = .init(),
                         _ body: (InProcessRegistry, RawHTTP) async throws -> Void) async throws {
        try await withInProcessRegistry(configuration) { registry in
            try await RawHTTP.with(registry) { raw in try await body(registry, raw) }
        }
    }

    /// Monolithic upload in one POST; returns the digest.
    @discardableResult
    private func putBlob(_ raw: RawHTTP, _ repo: String, _ bytes: [UInt8]) async throws -> OCIDigest {
        let digest = OCIDigest.of(bytes)
        let response = try await raw.send(.POST, "/v2/\(repo)/blobs/uploads/?digest=\(digest)", body: bytes)
        XCTAssertEqual(response.status, 201, response.text)
        return digest
    }

    func testPingAndBoundAddress() async throws {
        try await withRaw { registry, raw in
            XCTAssertTrue(registry.host.hasPrefix("127.0.0.1:"))
            XCTAssertNotEqual(registry.port, 0)
            XCTAssertEqual(registry.baseURL, "http://\(registry.host)")
            let ping = try await raw.send(.GET, "/v2/")
            XCTAssertEqual(ping.status, 200)
            XCTAssertEqual(ping.header("Docker-Distribution-API-Version"), "registry/2.0")
            let missing = try await raw.send(.GET, "/nothing")
            XCTAssertEqual(missing.status, 404)
        }
    }

    func testManifestPutGetHeadKeepBytesAndMediaType() async throws {
        try await withRaw { _, raw in
            let image = TestImage.make(layerSizes: [10])
            for (_, bytes) in image.blobs { try await putBlob(raw, "m", bytes) }
            // Bytes with odd whitespace stay exactly as sent.
            let bytes = Bytes.utf8("  ") + image.manifestBytes + Bytes.utf8("\n")
            let digest = OCIDigest.of(bytes)
            let put = try await raw.send(.PUT, "/v2/m/manifests/v1", headers: [("Content-Type", MediaType.ociManifest)], body: bytes)
            XCTAssertEqual(put.status, 201)
            XCTAssertEqual(put.header("Docker-Content-Digest"), digest.description)
            XCTAssertEqual(put.header("Location"), "/v2/m/manifests/\(digest)")
            XCTAssertNil(put.header("OCI-Subject"))

            for reference in ["v1", digest.description] {
                let get = try await raw.send(.GET, "/v2/m/manifests/\(reference)")
                XCTAssertEqual(get.status, 200)
                XCTAssertEqual(get.body, bytes)
                XCTAssertEqual(get.header("Content-Type"), MediaType.ociManifest)
                XCTAssertEqual(get.header("Docker-Content-Digest"), digest.description)
                let head = try await raw.send(.HEAD, "/v2/m/manifests/\(reference)")
                XCTAssertEqual(head.status, 200)
                XCTAssertEqual(head.header("Content-Length"), String(bytes.count))
                XCTAssertEqual(head.header("Content-Type"), MediaType.ociManifest)
            }
            // A Docker media type is kept as the PUT named it.
            let docker = TestImage.make(layerSizes: [10], mediaType: MediaType.dockerManifest)
            for (_, b) in docker.blobs { try await putBlob(raw, "m", b) }
            let putDocker = try await raw.send(.PUT, "/v2/m/manifests/docker", headers: [("Content-Type", MediaType.dockerManifest)],
                                               body: docker.manifestBytes)
            XCTAssertEqual(putDocker.status, 201)
            let getDocker = try await raw.send(.GET, "/v2/m/manifests/docker")
            XCTAssertEqual(getDocker.header("Content-Type"), MediaType.dockerManifest)

            let unknownTag = try await raw.send(.GET, "/v2/m/manifests/nope")
            XCTAssertEqual(unknownTag.status, 404)
            XCTAssertEqual(unknownTag.errorCodes, ["MANIFEST_UNKNOWN"])
            let unknownDigest = try await raw.send(.HEAD, "/v2/m/manifests/\(OCIDigest.of(Bytes.random(4)))")
            XCTAssertEqual(unknownDigest.status, 404)
        }
    }

    func testManifestValidation() async throws {
        try await withRaw(.init(maxManifestBytes: 4 << 20)) { _, raw in
            let image = TestImage.make(layerSizes: [10, 20])
            let ct = [("Content-Type", MediaType.ociManifest)]
            // Referenced blobs missing: MANIFEST_BLOB_UNKNOWN.
            let missing = try await raw.send(.PUT, "/v2/v/manifests/v1", headers: ct, body: image.manifestBytes)
            XCTAssertEqual(missing.status, 400)
            XCTAssertEqual(missing.errorCodes, ["MANIFEST_BLOB_UNKNOWN"])
            XCTAssertTrue(missing.text.contains(image.configDescriptor.digest.description))
            for (_, bytes) in image.blobs { try await putBlob(raw, "v", bytes) }

            // PUT by a digest the bytes do not have.
            let wrong = try await raw.send(.PUT, "/v2/v/manifests/\(OCIDigest.of(Bytes.random(3)))", headers: ct, body: image.manifestBytes)
            XCTAssertEqual(wrong.status, 400)
            XCTAssertEqual(wrong.errorCodes, ["DIGEST_INVALID"])
            let right = try await raw.send(.PUT, "/v2/v/manifests/\(image.manifestDescriptor.digest)", headers: ct, body: image.manifestBytes)
            XCTAssertEqual(right.status, 201)

            // Content-Type against the body's mediaType, JSON, tags, names.
            let mismatch = try await raw.send(.PUT, "/v2/v/manifests/x", headers: [("Content-Type", MediaType.dockerManifest)],
                                              body: image.manifestBytes)
            XCTAssertEqual(mismatch.errorCodes, ["MANIFEST_INVALID"])
            let notJSON = try await raw.send(.PUT, "/v2/v/manifests/x", headers: ct, body: Bytes.utf8("not json"))
            XCTAssertEqual(notJSON.errorCodes, ["MANIFEST_INVALID"])
            let badTag = try await raw.send(.PUT, "/v2/v/manifests/-bad", headers: ct, body: image.manifestBytes)
            XCTAssertEqual(badTag.errorCodes, ["TAG_INVALID"])
            let badName = try await raw.send(.GET, "/v2/Upper/Case/manifests/v1")
            XCTAssertEqual(badName.status, 400)
            XCTAssertEqual(badName.errorCodes, ["NAME_INVALID"])

            // Over 4 MiB: 413.
            var big = Array(image.manifestBytes.dropLast())
            big += Bytes.utf8(#","annotations":{"pad":""#) + [UInt8](repeating: UInt8(ascii: "a"), count: 4 << 20) + Bytes.utf8(#""}}"#)
            let tooBig = try await raw.send(.PUT, "/v2/v/manifests/big", headers: ct, body: big)
            XCTAssertEqual(tooBig.status, 413)
            XCTAssertEqual(tooBig.errorCodes, ["MANIFEST_INVALID"])

            // An index needs its children in the repository.
            let child = image.manifestDescriptor
            let otherChild = Descriptor.of(Bytes.random(10), mediaType: MediaType.ociManifest)
            func index(_ children: [Descriptor]) -> [UInt8] {
                let list = children.map { #"{"mediaType":"\#($0.mediaType)","digest":"\#($0.digest)","size":\#($0.size)}"# }
                return Bytes.utf8(#"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","manifests":[\#(list.joined(separator: ","))]}"#)
            }
            let ict = [("Content-Type", MediaType.ociIndex)]
            let badIndex = try await raw.send(.PUT, "/v2/v/manifests/multi", headers: ict, body: index([child, otherChild]))
            XCTAssertEqual(badIndex.status, 400)
            XCTAssertEqual(badIndex.errorCodes, ["MANIFEST_BLOB_UNKNOWN"])
            XCTAssertTrue(badIndex.text.contains(otherChild.digest.description))
            let goodIndex = try await raw.send(.PUT, "/v2/v/manifests/multi", headers: ict, body: index([child]))
            XCTAssertEqual(goodIndex.status, 201)
        }
    }

    func testSubjectHeaderAndReferrersFilter() async throws {
        try await withRaw { _, raw in
            let subject = TestImage.make(layerSizes: [10])
            for (_, bytes) in subject.blobs { try await putBlob(raw, "r", bytes) }
            // The subject need not exist (yet) for a referrer to be accepted.
            let artifact = TestImage.make(layerSizes: [5], artifactType: "application/vnd.test.a", subject: subject.manifestDescriptor,
                                          annotations: ["org.example": "yes"])
            for (_, bytes) in artifact.blobs { try await putBlob(raw, "r", bytes) }
            let put = try await raw.send(.PUT, "/v2/r/manifests/\(artifact.manifestDescriptor.digest)",
                                         headers: [("Content-Type", MediaType.ociManifest)], body: artifact.manifestBytes)
            XCTAssertEqual(put.status, 201)
            XCTAssertEqual(put.header("OCI-Subject"), subject.manifestDescriptor.digest.description)

            // An image manifest without artifactType is listed with its config media type.
            let plain = TestImage.make(layerSizes: [6], subject: subject.manifestDescriptor)
            for (_, bytes) in plain.blobs { try await putBlob(raw, "r", bytes) }
            _ = try await raw.send(.PUT, "/v2/r/manifests/\(plain.manifestDescriptor.digest)",
                                   headers: [("Content-Type", MediaType.ociManifest)], body: plain.manifestBytes)

            let all = try await raw.send(.GET, "/v2/r/referrers/\(subject.manifestDescriptor.digest)")
            XCTAssertEqual(all.status, 200)
            XCTAssertEqual(all.header("Content-Type"), MediaType.ociIndex)
            XCTAssertNil(all.header("OCI-Filters-Applied"))
            let manifests = try XCTUnwrap(all.json?["manifests"] as? [[String: Any]])
            XCTAssertEqual(all.json?["mediaType"] as? String, MediaType.ociIndex)
            XCTAssertEqual(Set(manifests.compactMap { $0["artifactType"] as? String }), ["application/vnd.test.a", MediaType.ociConfig])
            let a = try XCTUnwrap(manifests.first { $0["digest"] as? String == artifact.manifestDescriptor.digest.description })
            XCTAssertEqual(a["annotations"] as? [String: String], ["org.example": "yes"])
            XCTAssertEqual(a["size"] as? Int, Int(artifact.manifestDescriptor.size))

            let filtered = try await raw.send(.GET, "/v2/r/referrers/\(subject.manifestDescriptor.digest)?artifactType=application%2Fvnd.test.a")
            XCTAssertEqual(filtered.header("OCI-Filters-Applied"), "artifactType")
            XCTAssertEqual((filtered.json?["manifests"] as? [[String: Any]])?.count, 1)

            let none = try await raw.send(.GET, "/v2/unknown/referrers/\(subject.manifestDescriptor.digest)")
            XCTAssertEqual(none.status, 200)
            XCTAssertEqual((none.json?["manifests"] as? [Any])?.count, 0)
            let invalid = try await raw.send(.GET, "/v2/r/referrers/sha256:xyz")
            XCTAssertEqual(invalid.errorCodes, ["DIGEST_INVALID"])
        }
    }

    func testBlobRangesAndErrors() async throws {
        try await withRaw { _, raw in
            let bytes = Bytes.random(1000)
            let digest = try await putBlob(raw, "b", bytes)
            let get = try await raw.send(.GET, "/v2/b/blobs/\(digest)")
            XCTAssertEqual(get.status, 200)
            XCTAssertEqual(get.body, bytes)
            XCTAssertEqual(get.header("Docker-Content-Digest"), digest.description)
            let head = try await raw.send(.HEAD, "/v2/b/blobs/\(digest)")
            XCTAssertEqual(head.header("Content-Length"), "1000")

            let range = try await raw.send(.GET, "/v2/b/blobs/\(digest)", headers: [("Range", "bytes=100-199")])
            XCTAssertEqual(range.status, 206)
            XCTAssertEqual(range.header("Content-Range"), "bytes 100-199/1000")
            XCTAssertEqual(range.body, Array(bytes[100..<200]))
            let open = try await raw.send(.GET, "/v2/b/blobs/\(digest)", headers: [("Range", "bytes=990-")])
            XCTAssertEqual(open.body, Array(bytes[990...]))
            let suffix = try await raw.send(.GET, "/v2/b/blobs/\(digest)", headers: [("Range", "bytes=-5")])
            XCTAssertEqual(suffix.header("Content-Range"), "bytes 995-999/1000")
            let past = try await raw.send(.GET, "/v2/b/blobs/\(digest)", headers: [("Range", "bytes=1000-")])
            XCTAssertEqual(past.status, 416)
            XCTAssertEqual(past.header("Content-Range"), "bytes */1000")

            // Linked per repository: another repository does not have it.
            let elsewhere = try await raw.send(.GET, "/v2/other/blobs/\(digest)")
            XCTAssertEqual(elsewhere.status, 404)
            XCTAssertEqual(elsewhere.errorCodes, ["BLOB_UNKNOWN"])
            let invalid = try await raw.send(.GET, "/v2/b/blobs/sha256:..%2F..%2Fetc%2Fpasswd")
            XCTAssertEqual(invalid.errorCodes, ["DIGEST_INVALID"])

            let delete = try await raw.send(.DELETE, "/v2/b/blobs/\(digest)")
            XCTAssertEqual(delete.status, 202)
            let gone = try await raw.send(.HEAD, "/v2/b/blobs/\(digest)")
            XCTAssertEqual(gone.status, 404)
        }
    }

    func testUploadSessions() async throws {
        try await withRaw(.init(chunkMinLength: 0)) { _, raw in
            let blob = Bytes.random(3000)
            let digest = OCIDigest.of(blob)
            let post = try await raw.send(.POST, "/v2/u/blobs/uploads/")
            XCTAssertEqual(post.status, 202)
            XCTAssertEqual(post.header("Range"), "0-0")
            XCTAssertEqual(post.header("OCI-Chunk-Min-Length"), "0")
            XCTAssertNotNil(post.header("Docker-Upload-UUID"))
            let location = try XCTUnwrap(post.header("Location"))
            XCTAssertTrue(location.hasPrefix("/v2/u/blobs/uploads/"), "a relative Location, as distribution")

            let first = try await raw.send(.PATCH, location, headers: [("Content-Range", "0-999"), ("Content-Type", "application/octet-stream")],
                                           body: Array(blob[0..<1000]))
            XCTAssertEqual(first.status, 202)
            XCTAssertEqual(first.header("Range"), "0-999")
            let next = try XCTUnwrap(first.header("Location"))
            // Out of order: 416 with the current Range.
            let outOfOrder = try await raw.send(.PATCH, next, headers: [("Content-Range", "2000-2999")], body: Array(blob[2000...]))
            XCTAssertEqual(outOfOrder.status, 416)
            XCTAssertEqual(outOfOrder.header("Range"), "0-999")
            // A streamed PATCH without Content-Range appends.
            let second = try await raw.send(.PATCH, next, body: Array(blob[1000..<2000]))
            XCTAssertEqual(second.header("Range"), "0-1999")
            let status = try await raw.send(.GET, next)
            XCTAssertEqual(status.status, 204)
            XCTAssertEqual(status.header("Range"), "0-1999")

            // The wrong digest: DIGEST_INVALID, and nothing is stored.
            let wrongDigest = OCIDigest.of(Bytes.random(5))
            let bad = try await raw.send(.PUT, next + "?digest=\(wrongDigest)", body: Array(blob[2000...]))
            XCTAssertEqual(bad.status, 400)
            XCTAssertEqual(bad.errorCodes, ["DIGEST_INVALID"])
            let notStored = try await raw.send(.HEAD, "/v2/u/blobs/\(wrongDigest)")
            XCTAssertEqual(notStored.status, 404)
            let sessionGone = try await raw.send(.GET, next)
            XCTAssertEqual(sessionGone.errorCodes, ["BLOB_UPLOAD_UNKNOWN"])

            // Again, finished with the final chunk in the PUT.
            let again = try await raw.send(.POST, "/v2/u/blobs/uploads/")
            let l2 = try XCTUnwrap(again.header("Location"))
            let p2 = try await raw.send(.PATCH, l2, body: Array(blob[0..<2500]))
            let done = try await raw.send(.PUT, try XCTUnwrap(p2.header("Location")) + "?digest=\(digest)", body: Array(blob[2500...]))
            XCTAssertEqual(done.status, 201)
            XCTAssertEqual(done.header("Location"), "/v2/u/blobs/\(digest)")
            XCTAssertEqual(done.header("Docker-Content-Digest"), digest.description)
            let fetched = try await raw.send(.GET, "/v2/u/blobs/\(digest)")
            XCTAssertEqual(fetched.body, blob)

            // Monolithic POST with the wrong digest stores nothing.
            let lie = try await raw.send(.POST, "/v2/u/blobs/uploads/?digest=\(wrongDigest)", body: blob)
            XCTAssertEqual(lie.errorCodes, ["DIGEST_INVALID"])
            // Unknown and cancelled sessions.
            let unknown = try await raw.send(.PATCH, "/v2/u/blobs/uploads/\(UUID().uuidString.lowercased())", body: [1])
            XCTAssertEqual(unknown.status, 404)
            XCTAssertEqual(unknown.errorCodes, ["BLOB_UPLOAD_UNKNOWN"])
            let third = try await raw.send(.POST, "/v2/u/blobs/uploads/")
            let l3 = try XCTUnwrap(third.header("Location"))
            let cancel = try await raw.send(.DELETE, l3)
            XCTAssertEqual(cancel.status, 204)
            let cancelled = try await raw.send(.GET, l3)
            XCTAssertEqual(cancelled.status, 404)
            // A session belongs to its repository.
            let fourth = try await raw.send(.POST, "/v2/u/blobs/uploads/")
            let l4 = try XCTUnwrap(fourth.header("Location")).replacingOccurrences(of: "/v2/u/", with: "/v2/other/")
            let foreign = try await raw.send(.GET, l4)
            XCTAssertEqual(foreign.errorCodes, ["BLOB_UPLOAD_UNKNOWN"])
        }
    }

    func testMinimumChunkLengthIsEnforced() async throws {
        try await withRaw(.init(chunkMinLength: 1024)) { _, raw in
            let post = try await raw.send(.POST, "/v2/c/blobs/uploads/")
            XCTAssertEqual(post.header("OCI-Chunk-Min-Length"), "1024")
            let short = try await raw.send(.PATCH, try XCTUnwrap(post.header("Location")), body: Bytes.random(100))
            XCTAssertEqual(short.status, 202)
            let after = try await raw.send(.PATCH, try XCTUnwrap(short.header("Location")), body: Bytes.random(2000))
            XCTAssertEqual(after.status, 416, "only the last chunk may be shorter than the minimum")
        }
    }

    func testMountAnswers() async throws {
        try await withRaw { _, raw in
            let digest = try await putBlob(raw, "src", Bytes.random(64))
            let mounted = try await raw.send(.POST, "/v2/dst/blobs/uploads/?mount=\(digest)&from=src")
            XCTAssertEqual(mounted.status, 201)
            XCTAssertEqual(mounted.header("Location"), "/v2/dst/blobs/\(digest)")
            XCTAssertEqual(mounted.header("Docker-Content-Digest"), digest.description)
            let fromElsewhere = try await raw.send(.POST, "/v2/dst2/blobs/uploads/?mount=\(digest)&from=nothere")
            XCTAssertEqual(fromElsewhere.status, 202)
            XCTAssertNotNil(fromElsewhere.header("Location"))
            let withoutFrom = try await raw.send(.POST, "/v2/dst3/blobs/uploads/?mount=\(digest)")
            XCTAssertEqual(withoutFrom.status, 202)
        }
    }

    func testTagsAndCatalogPaging() async throws {
        try await withRaw { _, raw in
            let image = TestImage.make(layerSizes: [1])
            for repo in ["c/one", "a", "b/two"] {
                for (_, bytes) in image.blobs { try await putBlob(raw, repo, bytes) }
            }
            for tag in ["d", "b", "a", "c", "e"] {
                let put = try await raw.send(.PUT, "/v2/a/manifests/\(tag)", headers: [("Content-Type", MediaType.ociManifest)],
                                             body: image.manifestBytes)
                XCTAssertEqual(put.status, 201)
            }
            let all = try await raw.send(.GET, "/v2/a/tags/list")
            XCTAssertEqual(all.json?["tags"] as? [String], ["a", "b", "c", "d", "e"])
            XCTAssertEqual(all.json?["name"] as? String, "a")
            XCTAssertNil(all.header("Link"))

            var collected: [String] = []
            var next: String? = "/v2/a/tags/list?n=2"
            var pages = 0
            while let path = next {
                let page = try await raw.send(.GET, path)
                XCTAssertEqual(page.status, 200)
                collected += page.json?["tags"] as? [String] ?? []
                next = page.header("Link").flatMap { link in
                    link.split(separator: ";").first.map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "<> ")) }
                }
                if let link = page.header("Link") { XCTAssertTrue(link.hasSuffix(#"; rel="next""#)) }
                pages += 1
            }
            XCTAssertEqual(collected, ["a", "b", "c", "d", "e"])
            XCTAssertEqual(pages, 3)
            let afterC = try await raw.send(.GET, "/v2/a/tags/list?last=c")
            XCTAssertEqual(afterC.json?["tags"] as? [String], ["d", "e"])
            let badN = try await raw.send(.GET, "/v2/a/tags/list?n=-1")
            XCTAssertEqual(badN.errorCodes, ["PAGINATION_NUMBER_INVALID"])
            let unknown = try await raw.send(.GET, "/v2/nothing/tags/list")
            XCTAssertEqual(unknown.status, 404)
            XCTAssertEqual(unknown.errorCodes, ["NAME_UNKNOWN"])

            let catalog = try await raw.send(.GET, "/v2/_catalog")
            XCTAssertEqual(catalog.json?["repositories"] as? [String], ["a", "b/two", "c/one"])
            let first = try await raw.send(.GET, "/v2/_catalog?n=1")
            XCTAssertEqual(first.json?["repositories"] as? [String], ["a"])
            XCTAssertEqual(first.header("Link"), #"</v2/_catalog?n=1&last=a>; rel="next""#)
            let second = try await raw.send(.GET, "/v2/_catalog?n=1&last=a")
            XCTAssertEqual(second.json?["repositories"] as? [String], ["b/two"])
        }
    }

    func testDeletesAndDisabledDeletes() async throws {
        try await withRaw { _, raw in
            let image = TestImage.make(layerSizes: [1])
            for (_, bytes) in image.blobs { try await putBlob(raw, "d", bytes) }
            for tag in ["one", "two"] {
                _ = try await raw.send(.PUT, "/v2/d/manifests/\(tag)", headers: [("Content-Type", MediaType.ociManifest)], body: image.manifestBytes)
            }
            let untag = try await raw.send(.DELETE, "/v2/d/manifests/one")
            XCTAssertEqual(untag.status, 202)
            let tags = try await raw.send(.GET, "/v2/d/tags/list")
            XCTAssertEqual(tags.json?["tags"] as? [String], ["two"])
            let byDigest = try await raw.send(.DELETE, "/v2/d/manifests/\(image.manifestDescriptor.digest)")
            XCTAssertEqual(byDigest.status, 202)
            let noTags = try await raw.send(.GET, "/v2/d/tags/list")
            XCTAssertEqual(noTags.json?["tags"] as? [String], [], "deleting by digest removes every tag pointing at it")
            let again = try await raw.send(.DELETE, "/v2/d/manifests/\(image.manifestDescriptor.digest)")
            XCTAssertEqual(again.errorCodes, ["MANIFEST_UNKNOWN"])
        }
        try await withRaw(.init(deleteEnabled: false)) { _, raw in
            let digest = try await putBlob(raw, "d", Bytes.random(10))
            let refused = try await raw.send(.DELETE, "/v2/d/blobs/\(digest)")
            XCTAssertEqual(refused.status, 405)
            XCTAssertEqual(refused.errorCodes, ["UNSUPPORTED"])
        }
    }

    func testRouteAmbiguityFollowsDistribution() async throws {
        try await withRaw { _, raw in
            let image = TestImage.make(layerSizes: [1])
            for (_, bytes) in image.blobs { try await putBlob(raw, "pg/tags", bytes) }
            _ = try await raw.send(.PUT, "/v2/pg/tags/manifests/latest", headers: [("Content-Type", MediaType.ociManifest)],
                                   body: image.manifestBytes)
            let list = try await raw.send(.GET, "/v2/pg/tags/tags/list")
            XCTAssertEqual(list.json?["name"] as? String, "pg/tags")
            XCTAssertEqual(list.json?["tags"] as? [String], ["latest"])
            let other = try await raw.send(.GET, "/v2/pg/tags/list")
            XCTAssertEqual(other.errorCodes, ["NAME_UNKNOWN"], "/v2/pg/tags/list names the repository pg")
        }
    }

    /// libcurl (also under URLSession on Linux) sends `Expect: 100-continue` with large bodies and waits for
    /// the interim answer.
    func testExpectContinueUploadsWithCurl() async throws {
        let curl = "/usr/bin/curl"
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: curl), "curl is not installed at \(curl)")
        try await withRaw { registry, raw in
            let scratch = try TempDir("inproc-curl")
            defer { scratch.remove() }
            let blob = Bytes.random(3 << 20)
            let file = scratch.file("blob")
            _ = FileManager.default.createFile(atPath: file, contents: Data(blob))
            let digest = OCIDigest.of(blob)
            let result = try await Subprocess.run(curl, [
                "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Expect: 100-continue",
                "-H", "Content-Type: application/octet-stream", "--data-binary", "@\(file)",
                "\(registry.baseURL)/v2/curl/blobs/uploads/?digest=\(digest)",
            ])
            XCTAssertEqual(Bytes.text(result.stdout), "201", result.summary)
            let fetched = try await raw.send(.GET, "/v2/curl/blobs/\(digest)")
            XCTAssertEqual(fetched.body, blob)
            let post = try XCTUnwrap(registry.requests().first { $0.method == "POST" })
            XCTAssertEqual(post.header("Expect"), "100-continue")
            XCTAssertEqual(post.bodyLength, blob.count)
        }
    }

    /// Inputs a hostile or broken client may send get error answers, never a crash.
    func testHostileInputsGetErrors() async throws {
        try await withRaw { registry, raw in
            let ct = [("Content-Type", MediaType.ociManifest)]
            let deep = [UInt8](repeating: UInt8(ascii: "["), count: 200_000) + [UInt8](repeating: UInt8(ascii: "]"), count: 200_000)
            let nested = try await raw.send(.PUT, "/v2/h/manifests/deep", headers: ct, body: deep)
            XCTAssertEqual(nested.errorCodes, ["MANIFEST_INVALID"])
            let wrongTypes = try await raw.send(.PUT, "/v2/h/manifests/t", headers: ct,
                                                body: Bytes.utf8(#"{"schemaVersion":2,"config":{"digest":5,"size":"x"},"layers":7}"#))
            XCTAssertEqual(wrongTypes.errorCodes, ["MANIFEST_INVALID"])
            let schema1 = try await raw.send(.PUT, "/v2/h/manifests/s1", headers: [("Content-Type", MediaType.dockerSchema1SignedManifest)],
                                             body: Bytes.utf8(#"{"schemaVersion":1}"#))
            XCTAssertEqual(schema1.errorCodes, ["MANIFEST_INVALID"])

            let digest = OCIDigest.of(Bytes.random(10))
            let blob = try await raw.send(.POST, "/v2/h/blobs/uploads/?digest=\(OCIDigest.of([1, 2, 3]))", body: [1, 2, 3])
            XCTAssertEqual(blob.status, 201)
            let stored = OCIDigest.of([1, 2, 3])
            for range in ["bytes=0-9223372036854775807", "bytes=9223372036854775807-", "bytes=-9223372036854775807", "bytes=x-y", "bytes=5-2"] {
                let response = try await raw.send(.GET, "/v2/h/blobs/\(stored)", headers: [("Range", range)])
                XCTAssertTrue([200, 206, 416].contains(response.status), "\(range): \(response.status)")
            }
            let session = try await raw.send(.POST, "/v2/h/blobs/uploads/")
            let location = try XCTUnwrap(session.header("Location"))
            for contentRange in ["0-9223372036854775807", "9223372036854775807-0", "-1-5", "a-b"] {
                let response = try await raw.send(.PATCH, location, headers: [("Content-Range", contentRange)], body: [1])
                XCTAssertEqual(response.status, 416, contentRange)
            }
            let hugeN = try await raw.send(.GET, "/v2/_catalog?n=9223372036854775807")
            XCTAssertEqual(hugeN.status, 200)
            let sha512 = try await raw.send(.HEAD, "/v2/h/blobs/sha512:" + String(repeating: "a", count: 128))
            XCTAssertEqual(sha512.status, 404)
            let weird = try await raw.send(.GET, "/v2/h/blobs/md5:" + String(repeating: "a", count: 32))
            XCTAssertEqual(weird.errorCodes, ["DIGEST_INVALID"])
            let traversal = try await raw.send(.GET, "/v2/..%2F..%2Fetc/manifests/latest")
            XCTAssertEqual(traversal.errorCodes, ["NAME_INVALID"])
            let longName = try await raw.send(.GET, "/v2/" + String(repeating: "a", count: 300) + "/tags/list")
            XCTAssertEqual(longName.errorCodes, ["NAME_INVALID"])
            let unknownUpload = try await raw.send(.PUT, "/v2/h/blobs/uploads/not-a-uuid?digest=\(digest)")
            XCTAssertEqual(unknownUpload.errorCodes, ["BLOB_UPLOAD_UNKNOWN"])
            let options = try await raw.send(.OPTIONS, "/v2/h/tags/list")
            XCTAssertEqual(options.errorCodes, ["UNSUPPORTED"])
            // Still serving.
            let ping = try await raw.send(.GET, "/v2/")
            XCTAssertEqual(ping.status, 200)
            XCTAssertGreaterThan(registry.requests().count, 20)
        }
    }
}
