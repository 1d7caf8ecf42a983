import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import OCICredentials

/// The Docker token protocol: `GET realm?service=…&scope=…` with Basic credentials, and the OAuth2 form
/// `POST realm` with `grant_type=refresh_token` for identity tokens (falling back to GET when the server
/// answers 404). The token is read from `token` or `access_token`.
struct TokenClient: Sendable {
    struct Response: Sendable, Decodable {
        var token: String
        var expiresIn: Int?
        var refreshToken: String?

        enum CodingKeys: String, CodingKey {
            case token, accessToken = "access_token", expiresIn = "expires_in", refreshToken = "refresh_token"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let token = try c.decodeIfPresent(String.self, forKey: .token)
            let access = try c.decodeIfPresent(String.self, forKey: .accessToken)
            guard let value = [token, access].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
                throw DecodingError.keyNotFound(CodingKeys.token, .init(codingPath: [], debugDescription: "no token or access_token"))
            }
            self.token = value
            self.expiresIn = try? c.decodeIfPresent(Int.self, forKey: .expiresIn)
            self.refreshToken = try c.decodeIfPresent(String.self, forKey: .refreshToken)
        }
    }

    let transport: HTTPTransport
    let userAgent: String
    let logger: Logger

    func fetch(realm: URL, service: String, scopes: [String], credential: Credential) async throws -> Response {
        guard var components = URLComponents(url: realm, resolvingAgainstBaseURL: true) else {
            throw RegistryError.tokenService(realm: realm.absoluteString, status: nil, why: "invalid realm URL")
        }
        var items = components.queryItems ?? []
        items.append(URLQueryItem(name: "service", value: service))
        for scope in scopes { items.append(URLQueryItem(name: "scope", value: scope)) }
        components.queryItems = items
        // '+' in a query means space to many servers: encode it.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.url else {
            throw RegistryError.tokenService(realm: realm.absoluteString, status: nil, why: "invalid realm URL")
        }
        var headers = HTTPHeaders()
        headers.add(name: "User-Agent", value: userAgent)
        if let user = credential.username, let pass = credential.password, !user.isEmpty || !pass.isEmpty {
            headers.add(name: "Authorization", value: "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString())
        }
        logger.debug("token request", metadata: ["realm": "\(realm.absoluteString)", "scopes": "\(scopes.joined(separator: " "))"])
        let response = try await transport.execute(method: .GET, url: url, headers: headers, body: nil)
        return try await decode(response, realm: realm)
    }

    func fetchWithRefreshToken(realm: URL, service: String, scopes: [String], refreshToken: String,
                               fallbackCredential: Credential) async throws -> Response {
        var form = URLComponents()
        form.queryItems = [
            URLQueryItem(name: "grant_type", value: "refresh_token"),
            URLQueryItem(name: "refresh_token", value: refreshToken),
            URLQueryItem(name: "service", value: service),
            URLQueryItem(name: "client_id", value: "swift-ociclient"),
            URLQueryItem(name: "access_type", value: "offline"),
        ] + scopes.map { URLQueryItem(name: "scope", value: $0) }
        let body = (form.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        var headers = HTTPHeaders()
        headers.add(name: "User-Agent", value: userAgent)
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let response = try await transport.execute(method: .POST, url: realm, headers: headers, body: .bytes(Array(body.utf8)))
        if response.status.code == 404 || response.status.code == 405 {
            _ = try? await readLimited(response.body, limit: 4096)
            return try await fetch(realm: realm, service: service, scopes: scopes, credential: fallbackCredential)
        }
        return try await decode(response, realm: realm)
    }

    private func decode(_ response: HTTPClientResponse, realm: URL) async throws -> Response {
        let body = try await readLimited(response.body, limit: 1 << 20)
        guard response.status.code == 200 else {
            let errors = RegistryErrorDetail.decodeList(body) ?? []
            let why = errors.isEmpty ? (snippet(body) ?? "no details") : errors.map(\.description).joined(separator: "; ")
            throw RegistryError.tokenService(realm: realm.absoluteString, status: Int(response.status.code),
                                             why: response.status.code == 401 ? "credentials refused: \(why)" : why)
        }
        do {
            return try JSONDecoder().decode(Response.self, from: Data(body))
        } catch {
            throw RegistryError.tokenService(realm: realm.absoluteString, status: 200, why: "the answer has no token")
        }
    }
}
