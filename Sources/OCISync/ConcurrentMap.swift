/// Runs `body` for every element, at most `limit` at once, and returns the results in the input's order.
/// The first error cancels the work still running and is rethrown. The one bounded fan-out of the package:
/// pushes, pulls, conversions and listings all go through it.
package func concurrentMap<Element: Sendable, Result: Sendable>(
    _ items: [Element], limit: Int, _ body: @escaping @Sendable (Element) async throws -> Result
) async throws -> [Result] {
    guard !items.isEmpty else { return [] }
    let width = max(1, min(limit, items.count))
    return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        var results = [Result?](repeating: nil, count: items.count)
        var next = 0
        while next < width {
            let index = next
            group.addTask { (index, try await body(items[index])) }
            next += 1
        }
        while let (index, value) = try await group.next() {
            results[index] = value
            if next < items.count {
                let index = next
                group.addTask { (index, try await body(items[index])) }
                next += 1
            }
        }
        return results.compactMap { $0 }
    }
}

/// Runs `body` for every element, at most `limit` at once (see `concurrentMap`).
package func concurrentForEach<Element: Sendable>(
    _ items: [Element], limit: Int, _ body: @escaping @Sendable (Element) async throws -> Void
) async throws {
    _ = try await concurrentMap(items, limit: limit, body)
}
