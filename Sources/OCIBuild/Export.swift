import Foundation
import OCIContent
import OCISpec
import OCISync
import OCITar

/// Options of `OCI.export`.
public struct ExportOptions: Sendable {
    /// The platform of an index (default linux/amd64).
    public var platform: Platform?
    /// A directory for the downloaded layers; nil for the system's temporary directory.
    public var temporaryDirectory: String?

    public init(platform: Platform? = nil, temporaryDirectory: String? = nil) {
        self.platform = platform
        self.temporaryDirectory = temporaryDirectory
    }
}

extension OCI {
    /// Writes the merged file system of an image (one platform of an index) as an uncompressed tar to `path`,
    /// atomically: the layers applied in order, whiteouts (`.wh.NAME`, `.wh..wh..opq`) honoured and left out.
    /// Layers are downloaded (verified) to temporary files one at a time; memory holds only the list of paths.
    public static func export(_ image: StoredImage, toFile path: String, options: ExportOptions = ExportOptions()) async throws {
        let loaded = try await LoadedImage.load(image, platform: options.platform)
        let staging = try StagingStore(parent: options.temporaryDirectory)
        defer { staging.remove() }
        try await FilesystemExporter.export(layers: loaded.manifest.layers, from: loaded.store, workspace: staging,
                                            toFile: path)
    }

    /// The entries of one layer (by digest, or by position: 0 is the base layer) of an image, in archive order.
    public static func listFiles(_ image: StoredImage, layer: LayerSelector,
                                 options: ExportOptions = ExportOptions()) async throws -> [TarHeader] {
        let loaded = try await LoadedImage.load(image, platform: options.platform)
        let layers = loaded.manifest.layers
        let chosen: Descriptor
        switch layer {
        case .index(let i):
            guard layers.indices.contains(i) else {
                throw BuildError.notFound("layer \(i) of \(image.reference) (it has \(layers.count))")
            }
            chosen = layers[i]
        case .digest(let digest):
            guard let found = layers.first(where: { $0.digest == digest }) else {
                throw BuildError.notFound("layer \(digest) in \(image.reference)")
            }
            chosen = found
        }
        guard let store = loaded.store else { throw BuildError.notFound("layer \(chosen.digest): scratch has none") }
        let staging = try StagingStore(parent: options.temporaryDirectory)
        defer { staging.remove() }
        let file = try await FilesystemExporter.download(chosen, from: store, into: staging)
        return try await LayerBuilder.offload {
            let reader = try TarReader(path: file)
            var headers: [TarHeader] = []
            while let header = try reader.next() { headers.append(header) }
            return headers
        }
    }
}

/// A layer of an image, by position (0: the base layer) or digest.
public enum LayerSelector: Sendable, Hashable {
    case index(Int)
    case digest(OCIDigest)
}

/// Merges layers into one file system tree as a tar: the top layer first, each lower layer's entries only when
/// no upper layer has the path, deleted it (a whiteout) or hid its directory (an opaque whiteout, or a
/// non-directory in place of a directory). Hard links are written last, and only when their target was.
enum FilesystemExporter {
    static func download(_ layer: Descriptor, from store: any ContentFetcher, into staging: StagingStore) async throws -> String {
        let path = staging.newFilePath(".blob")
        try await AtomicFileWriter.write(try await store.fetch(layer), to: path)
        return path
    }

    static func export(layers: [Descriptor], from store: (any ReadOnlyTarget)?, workspace: StagingStore,
                       toFile path: String) async throws {
        for layer in layers where layer.urls?.isEmpty == false && layer.mediaType.contains("foreign") {
            throw BuildError.unsupported("layer \(layer.digest) is a foreign layer; its content is not in the registry")
        }
        var files: [String] = []
        if let store {
            for layer in layers { files.append(try await download(layer, from: store, into: workspace)) }
        }
        let inputs = files
        try await LayerBuilder.offload {
            let file: AtomicFile
            do { file = try AtomicFile(destination: path) } catch { throw BuildError.io("create", path, "\(error)") }
            do {
                let writer = try TarWriter(sink: { bytes in
                    do { try file.write(bytes) } catch { throw BuildError.io("write", path, "\(error)") }
                })
                try merge(inputs.reversed(), into: writer)
                try writer.finish()
                do { try file.commit() } catch { throw BuildError.io("write", path, "\(error)") }
            } catch {
                file.discard()
                throw error
            }
        }
    }

    /// `./a/b/`, `/a/b` -> `a/b`.
    static func clean(_ path: String) -> String {
        var p = Substring(path)
        while p.hasPrefix("./") { p = p.dropFirst(2) }
        while p.hasPrefix("/") { p = p.dropFirst() }
        while p.hasSuffix("/") { p = p.dropLast() }
        return p == "." ? "" : String(p)
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// `layers` top first.
    static func merge(_ layers: [String], into writer: TarWriter) throws {
        var emitted: Set<String> = []
        var nonDirectories: Set<String> = []
        var removed: Set<String> = []
        var opaque: Set<String> = []
        var hardLinks: [TarHeader] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer { buffer.deallocate() }

        func hidden(_ path: String) -> Bool {
            if emitted.contains(path) || removed.contains(path) { return true }
            var ancestor = parent(path)
            while !ancestor.isEmpty {
                if removed.contains(ancestor) || opaque.contains(ancestor) || nonDirectories.contains(ancestor) { return true }
                ancestor = parent(ancestor)
            }
            return opaque.contains("") && !path.isEmpty
        }

        for layer in layers {
            let reader = try TarReader(path: layer)
            var layerRemoved: [String] = []
            var layerOpaque: [String] = []
            var layerEmitted: [String] = []
            while var header = try reader.next() {
                let path = clean(header.path)
                let name = path.split(separator: "/").last.map(String.init) ?? path
                if name == ".wh..wh..opq" {
                    layerOpaque.append(parent(path))
                    continue
                }
                if name.hasPrefix(".wh.") {
                    let target = parent(path).isEmpty ? String(name.dropFirst(4)) : parent(path) + "/" + name.dropFirst(4)
                    layerRemoved.append(target)
                    continue
                }
                guard !path.isEmpty, !hidden(path) else { continue }
                header.path = path
                layerEmitted.append(path)
                if header.kind != .directory { nonDirectories.insert(path) }
                if header.kind == .hardLink {
                    header.linkTarget = header.linkTarget.map(clean)
                    hardLinks.append(header)
                    continue
                }
                try writer.append(header)
                if header.kind == .regular {
                    while true {
                        let n = try reader.read(into: buffer)
                        if n == 0 { break }
                        try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    }
                }
            }
            emitted.formUnion(layerEmitted)
            removed.formUnion(layerRemoved)
            opaque.formUnion(layerOpaque)
        }
        // A hard link needs its target in the archive before it; a target deleted by an upper layer takes the
        // link with it.
        var written = emitted
        for link in hardLinks {
            guard let target = link.linkTarget, written.contains(target), !hardLinks.contains(where: { $0.path == target }) else {
                continue
            }
            try writer.append(link)
            written.insert(link.path)
        }
    }
}
