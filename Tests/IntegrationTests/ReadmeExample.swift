// The README's library example, verbatim between the markers: ReadmeExampleTests checks that README.md shows
// exactly these lines and runs them against the real registry, so the example cannot rot.
// README-EXAMPLE-BEGIN
import OCIKit

func example(registry: String) async throws {
    try await OCIClient.withClient { client in
        let files = [FileToPush("notes.txt"), FileToPush("data.bin")]                       // push files
        let pushed = try await client.push(files: files, to: "\(registry)/team/files:v1")
        try await client.copy(from: "\(registry)/team/files:v1", to: "ocidir://backup:v1")  // copy
        let pulled = try await client.pull("ocidir://backup:v1", into: "restored")          // pull
        let image = try await client.inspect("\(registry)/team/files:v1")                   // inspect
        try await client.tag("\(registry)/team/files:v1", as: ["stable", "2026-12"])        // tag
        print(pushed.digest, pulled.files, image.manifest?.layers.count ?? 0)
    }
}
// README-EXAMPLE-END
