import OCIContent
import OCISpec

/// The verbs of `OCIClient` by location string, as a protocol: code that takes `any OCIClientProtocol` can be
/// unit-tested with `OCITesting.FakeOCIClient`, which records calls, fails on cue and serves from memory.
public protocol OCIClientProtocol: Sendable {
    func resolve(_ location: String) async throws -> Descriptor
    func manifest(_ location: String) async throws -> (descriptor: Descriptor, bytes: [UInt8])
    func inspect(_ location: String, platform: Platform?) async throws -> ImageInspection
    func tags(_ location: String) async throws -> [String]
    func referrers(_ location: String, artifactType: String?, platform: Platform?) async throws -> [Descriptor]
    func fetchBlob(_ location: String, onEvent: (@Sendable (CopyEvent) -> Void)?) async throws -> ByteStream
    @discardableResult
    func copy(from source: String, to destination: String, options: CopyOptions) async throws -> CopyResult
    @discardableResult
    func pull(_ location: String, into directory: String, options: PullOptions) async throws -> PullResult
    @discardableResult
    func push(files: [FileToPush], to location: String, options: PushOptions) async throws -> Descriptor
    @discardableResult
    func pushBlob(file path: String, to location: String, mediaType: String,
                  onEvent: (@Sendable (CopyEvent) -> Void)?) async throws -> Descriptor
    @discardableResult
    func pushManifest(_ bytes: [UInt8], mediaType: String, to location: String) async throws -> Descriptor
    @discardableResult
    func tag(_ location: String, as tags: [String]) async throws -> Descriptor
}

extension OCIClient: OCIClientProtocol {}
