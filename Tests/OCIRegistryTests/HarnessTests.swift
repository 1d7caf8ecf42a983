import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OCITesting
import OCITestFixtures
import XCTest

/// Self-tests of the OCITesting harness: every registry mode, the token server and the fake HTTP server.
final class HarnessTests: XCTestCase {
    // sha256("hello")
    private let helloDigest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

    private func requireRegistry(_ mode: TestRegistry.Mode) throws {
        try XCTSkipUnless(TestRegistry.isAvailable(mode),
                          "registry binary \(TestRegistry.defaultBinary) or a tool for \(mode) is missing")
    }

    private func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// Runs curl and returns (exit status, stdout).
    private func curl(_ arguments: [String]) throws -> (Int32, String) {
        try run("curl", arguments)
    }

    /// Runs a tool from PATH and returns (exit status, stdout).
    private func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    // MARK: Registry modes

    func testPlainRegistry() async throws {
        try requireRegistry(.plain)
        try await TestRegistry.withRegistry(.plain) { registry in
            XCTAssertEqual(registry.scheme, "http")
            XCTAssertEqual(registry.host, "127.0.0.1:\(registry.port)")
            XCTAssertEqual(registry.baseURL, "http://127.0.0.1:\(registry.port)")
            XCTAssertNil(registry.username)
            XCTAssertNil(registry.caCertificatePath)
            XCTAssertEqual(String(decoding: registry.dockerConfigJSON(), as: UTF8.self), #"{"auths":{}}"#)

            let ping = try await TestHTTP.request("GET", registry.baseURL + "/v2/")
            XCTAssertEqual(ping.status, 200)
            XCTAssertEqual(ping.headers["docker-distribution-api-version"], "registry/2.0")

            // URLSession works for plain HTTP.
            let (_, response) = try await URLSession.shared.data(from: registry.url.appendingPathComponent("v2/"))
            XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)

            // Monolithic blob upload, then the data must survive a restart on the same port.
            let start = try await TestHTTP.request("POST", registry.baseURL + "/v2/harness/test/blobs/uploads/")
            XCTAssertEqual(start.status, 202)
            let location = try XCTUnwrap(start.headers["Location"])
            let separator = location.contains("?") ? "&" : "?"
            let put = try await TestHTTP.request("PUT", location + separator + "digest=" + helloDigest,
                                                 headers: ["Content-Type": "application/octet-stream"],
                                                 body: Array("hello".utf8))
            XCTAssertEqual(put.status, 201, put.bodyText)

            let pidBefore = registry.processIdentifier
            try await registry.restart()
            XCTAssertNotEqual(registry.processIdentifier, pidBefore)
            let head = try await TestHTTP.request("HEAD", registry.baseURL + "/v2/harness/test/blobs/" + helloDigest)
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.headers["Content-Length"], "5")

            // A stopped process refuses connections; startProcess brings it back.
            await registry.stopProcess()
            XCTAssertNil(registry.processIdentifier)
            do {
                _ = try await TestHTTP.request("GET", registry.baseURL + "/v2/", timeout: .seconds(10))
                XCTFail("expected the connection to be refused")
            } catch {}
            try await registry.startProcess()
            let again = try await TestHTTP.request("GET", registry.baseURL + "/v2/")
            XCTAssertEqual(again.status, 200)
        }
    }

    func testStopRemovesEverything() async throws {
        try requireRegistry(.plain)
        let registry = try await TestRegistry.start(.plain)
        let pid = try XCTUnwrap(registry.processIdentifier)
        XCTAssertTrue(FileManager.default.fileExists(atPath: registry.dataDirectory))
        XCTAssertTrue(FileManager.default.fileExists(atPath: registry.logFile))
        await registry.stop()
        await registry.stop()  // idempotent
        XCTAssertFalse(FileManager.default.fileExists(atPath: registry.directory))
        XCTAssertNotEqual(kill(pid, 0), 0, "registry process \(pid) still exists")
        do {
            _ = try await TestHTTP.request("GET", registry.baseURL + "/v2/", timeout: .seconds(10))
            XCTFail("expected the connection to be refused after stop")
        } catch {}
    }

    func testStartFailureReportsTheLog() async throws {
        var options = TestRegistry.Options()
        options.registryBinary = "/bin/false"
        options.startAttempts = 2
        do {
            let registry = try await TestRegistry.start(.plain, options: options)
            await registry.stop()
            XCTFail("a registry binary that exits at once must not start")
        } catch let error as OCITestingError {
            XCTAssertTrue(error.message.contains("exited early"), error.message)
            XCTAssertTrue(error.message.contains("attempt 2"), error.message)
        }
    }

    func testOptionsReachTheConfig() async throws {
        try requireRegistry(.plain)
        var options = TestRegistry.Options()
        options.deleteEnabled = false
        options.relativeURLs = true
        options.schema1Enabled = true
        try await TestRegistry.withRegistry(.plain, options: options) { registry in
            let config = try String(contentsOfFile: registry.configFile, encoding: .utf8)
            XCTAssertTrue(config.contains("relativeurls: true"))
            XCTAssertTrue(config.contains("schema1:"))
            let start = try await TestHTTP.request("POST", registry.baseURL + "/v2/harness/rel/blobs/uploads/")
            XCTAssertEqual(start.status, 202)
            XCTAssertEqual(start.headers["Location"]?.hasPrefix("/v2/harness/rel/blobs/uploads/"), true)
            let delete = try await TestHTTP.request("DELETE", registry.baseURL + "/v2/harness/rel/manifests/" + helloDigest)
            XCTAssertEqual(delete.status, 405)
        }
    }

    func testTLSRegistry() async throws {
        try requireRegistry(.tls)
        try await TestRegistry.withRegistry(.tls) { registry in
            XCTAssertEqual(registry.scheme, "https")
            XCTAssertEqual(registry.baseURL, "https://127.0.0.1:\(registry.port)")
            let ca = try XCTUnwrap(registry.caCertificatePath)
            XCTAssertTrue(FileManager.default.fileExists(atPath: ca))
            XCTAssertTrue(String(decoding: registry.caCertificatePEM ?? [], as: UTF8.self).contains("BEGIN CERTIFICATE"))

            let (status, code) = try curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
                                           registry.baseURL + "/v2/"])
            XCTAssertEqual(status, 0)
            XCTAssertEqual(code, "200")
            let (localhostStatus, localhostCode) = try curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
                                                             "https://localhost:\(registry.port)/v2/"])
            XCTAssertEqual(localhostStatus, 0)
            XCTAssertEqual(localhostCode, "200")
            // The system trust store does not know the test CA.
            let (untrusted, _) = try curl(["-s", "-o", "/dev/null", "--cacert", "/etc/ssl/certs/ca-certificates.crt",
                                           registry.baseURL + "/v2/"])
            XCTAssertNotEqual(untrusted, 0)
        }
    }

    func testHtpasswdRegistry() async throws {
        try requireRegistry(.htpasswd)
        try await TestRegistry.withRegistry(.htpasswd) { registry in
            let user = try XCTUnwrap(registry.username)
            let password = try XCTUnwrap(registry.password)
            let reader = try XCTUnwrap(registry.readerUsername)
            let readerPassword = try XCTUnwrap(registry.readerPassword)

            let anonymous = try await TestHTTP.request("GET", registry.baseURL + "/v2/")
            XCTAssertEqual(anonymous.status, 401)
            XCTAssertEqual(anonymous.headers["WWW-Authenticate"]?.hasPrefix("Basic realm="), true)

            let full = try await TestHTTP.request("GET", registry.baseURL + "/v2/",
                                                  headers: ["Authorization": basic(user, password)])
            XCTAssertEqual(full.status, 200)
            let second = try await TestHTTP.request("GET", registry.baseURL + "/v2/",
                                                    headers: ["Authorization": basic(reader, readerPassword)])
            XCTAssertEqual(second.status, 200)
            let wrong = try await TestHTTP.request("GET", registry.baseURL + "/v2/",
                                                   headers: ["Authorization": basic(user, "wrong")])
            XCTAssertEqual(wrong.status, 401)

            let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(registry.dockerConfigJSON())) as? [String: Any])
            let auths = try XCTUnwrap(config["auths"] as? [String: Any])
            let entry = try XCTUnwrap(auths[registry.host] as? [String: String])
            XCTAssertEqual(entry["auth"], Data("\(user):\(password)".utf8).base64EncodedString())
        }
    }

    /// F45, the Go envtest's "should run and stop a test registry": TLS with a generated CA (IP SANs 127.0.0.1 and
    /// ::1) and htpasswd (bcrypt) with a random password; reachable only with the CA and the credentials; stopping
    /// kills the process and removes the temp directory.
    func testTLSHtpasswdRegistryRunsAndStops() async throws {
        try requireRegistry(.tlsHtpasswd)
        let registry = try await TestRegistry.start(.tlsHtpasswd)
        let pid = try XCTUnwrap(registry.processIdentifier)
        do {
            XCTAssertEqual(registry.scheme, "https")
            XCTAssertEqual(registry.baseURL, "https://127.0.0.1:\(registry.port)")
            XCTAssertTrue(registry.mode.usesTLS && registry.mode.usesHtpasswd && !registry.mode.usesTokenServer)
            let user = try XCTUnwrap(registry.username)
            let password = try XCTUnwrap(registry.password)
            XCTAssertEqual(user, "testuser")
            XCTAssertFalse(["testpass", "readpass", ""].contains(password), "the password is random")
            XCTAssertNotEqual(password, registry.readerPassword)
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let trust = try XCTUnwrap(registry.certificateDirectory)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: trust), ["ca.crt"])
            XCTAssertEqual(FileManager.default.contents(atPath: trust + "/ca.crt"), FileManager.default.contents(atPath: ca))
            let htpasswd = try String(contentsOfFile: registry.directory + "/auth/htpasswd", encoding: .utf8)
            XCTAssertTrue(htpasswd.hasPrefix("\(user):$2y$"), "bcrypt entries")
            XCTAssertFalse(htpasswd.contains(password))

            // The server certificate names both loopback addresses.
            let certificate = try XCTUnwrap(registry.serverCertificatePath)
            let (sanStatus, san) = try run("openssl", ["x509", "-in", certificate, "-noout", "-ext", "subjectAltName"])
            XCTAssertEqual(sanStatus, 0)
            XCTAssertTrue(san.contains("IP Address:127.0.0.1"), san)
            XCTAssertTrue(san.contains("IP Address:0:0:0:0:0:0:0:1"), san)
            XCTAssertTrue(san.contains("DNS:localhost"), san)

            let url = registry.baseURL + "/v2/"
            let code = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca]
            XCTAssertEqual(try curl(code + ["-u", "\(user):\(password)", url]).1, "200")
            XCTAssertEqual(try curl(code + [url]).1, "401")
            XCTAssertEqual(try curl(code + ["-u", "\(user):wrong", url]).1, "401")
            // Verified as the IPv6 literal (connecting to 127.0.0.1, where the registry listens).
            let v6 = try curl(code + ["-u", "\(user):\(password)", "--connect-to", "::127.0.0.1:",
                                      "https://[::1]:\(registry.port)/v2/"])
            XCTAssertEqual(v6.0, 0)
            XCTAssertEqual(v6.1, "200")
            let (untrusted, _) = try curl(["-s", "-o", "/dev/null", "--cacert", "/etc/ssl/certs/ca-certificates.crt",
                                           "-u", "\(user):\(password)", url])
            XCTAssertNotEqual(untrusted, 0)
            let challenge = try curl(["-s", "-o", "/dev/null", "-w", "%header{www-authenticate}", "--cacert", ca, url]).1
            XCTAssertTrue(challenge.hasPrefix("Basic realm="), challenge)

            let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(registry.dockerConfigJSON())) as? [String: Any])
            let auths = try XCTUnwrap(config["auths"] as? [String: [String: String]])
            XCTAssertEqual(auths[registry.host]?["auth"], Data("\(user):\(password)".utf8).base64EncodedString())
        } catch {
            await registry.stop()
            throw error
        }
        await registry.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: registry.directory))
        XCTAssertNotEqual(kill(pid, 0), 0, "registry process \(pid) still exists")
        let (after, _) = try curl(["-s", "-o", "/dev/null", "--cacert", "/dev/null", "--max-time", "10",
                                   registry.baseURL + "/v2/"])
        XCTAssertEqual(after, 7, "connection refused after stop")
    }

    /// Passwords given in the options are used as they are (and the htpasswd file holds them).
    func testTLSHtpasswdRegistryTakesPasswordsFromTheOptions() async throws {
        try requireRegistry(.tlsHtpasswd)
        var options = TestRegistry.Options()
        options.username = "alice"
        options.password = "alice-pw"
        options.readerPassword = "reader-pw"
        try await TestRegistry.withRegistry(.tlsHtpasswd, options: options) { registry in
            XCTAssertEqual(registry.username, "alice")
            XCTAssertEqual(registry.password, "alice-pw")
            XCTAssertEqual(registry.readerUsername, "reader")
            XCTAssertEqual(registry.readerPassword, "reader-pw")
            let ca = try XCTUnwrap(registry.caCertificatePath)
            let code = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca]
            XCTAssertEqual(try curl(code + ["-u", "alice:alice-pw", registry.baseURL + "/v2/"]).1, "200")
            XCTAssertEqual(try curl(code + ["-u", "reader:reader-pw", registry.baseURL + "/v2/"]).1, "200")
        }
    }

    func testTokenRegistry() async throws {
        try requireRegistry(.token)
        try await TestRegistry.withRegistry(.token) { registry in
            let tokenServer = try XCTUnwrap(registry.tokenServer)
            let user = try XCTUnwrap(registry.username)
            let password = try XCTUnwrap(registry.password)

            let anonymous = try await TestHTTP.request("GET", registry.baseURL + "/v2/")
            XCTAssertEqual(anonymous.status, 401)
            let challenge = try XCTUnwrap(anonymous.headers["WWW-Authenticate"])
            XCTAssertTrue(challenge.hasPrefix("Bearer "), challenge)
            XCTAssertTrue(challenge.contains("realm=\"\(tokenServer.realm)\""), challenge)
            XCTAssertTrue(challenge.contains("service=\"\(tokenServer.service)\""), challenge)

            let catalogChallenge = try await TestHTTP.request("GET", registry.baseURL + "/v2/_catalog")
            XCTAssertEqual(catalogChallenge.status, 401)
            XCTAssertEqual(catalogChallenge.headers["WWW-Authenticate"]?.contains("scope=\"registry:catalog:*\""), true)

            let tokenURL = tokenServer.realm + "?service=\(tokenServer.service)&scope=registry:catalog:*"
            let tokenResponse = try await TestHTTP.request("GET", tokenURL, headers: ["Authorization": basic(user, password)])
            XCTAssertEqual(tokenResponse.status, 200, tokenResponse.bodyText)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(tokenResponse.body)) as? [String: Any])
            let token = try XCTUnwrap(json["token"] as? String)
            XCTAssertEqual(json["access_token"] as? String, token)
            XCTAssertEqual(json["expires_in"] as? Int, 300)
            XCTAssertNotNil(json["issued_at"] as? String)
            XCTAssertNil(json["refresh_token"])

            let catalog = try await TestHTTP.request("GET", registry.baseURL + "/v2/_catalog",
                                                     headers: ["Authorization": "Bearer \(token)"])
            XCTAssertEqual(catalog.status, 200, catalog.bodyText + "\n" + registry.logTail())
            XCTAssertTrue(catalog.bodyText.contains("repositories"))
            let ping = try await TestHTTP.request("GET", registry.baseURL + "/v2/", headers: ["Authorization": "Bearer \(token)"])
            XCTAssertEqual(ping.status, 200)

            let stats = tokenServer.stats()
            XCTAssertEqual(stats.tokenRequests, 1)
            XCTAssertEqual(stats.tokensIssued, 1)
            XCTAssertEqual(stats.byMethod, ["GET": 1])
            XCTAssertEqual(stats.byUser, [user: 1])
            XCTAssertEqual(stats.scopes, ["registry:catalog:*"])
        }
    }

    func testTokenRegistryGrants() async throws {
        try requireRegistry(.token)
        try await TestRegistry.withRegistry(.token) { registry in
            let tokenServer = try XCTUnwrap(registry.tokenServer)
            let reader = try XCTUnwrap(registry.readerUsername)
            let readerPassword = try XCTUnwrap(registry.readerPassword)
            let service = tokenServer.service

            // The pull-only reader asks for push and catalog: gets pull only, nothing for the catalog.
            XCTAssertEqual(tokenServer.grant(user: reader, scopes: ["repository:a/b:pull,push", "registry:catalog:*"]),
                           [TokenServer.Access(type: "repository", name: "a/b", actions: ["pull"])])
            let readerToken = try await fetchToken(tokenServer, scopes: ["registry:catalog:*"], auth: basic(reader, readerPassword))
            let denied = try await TestHTTP.request("GET", registry.baseURL + "/v2/_catalog",
                                                    headers: ["Authorization": "Bearer \(readerToken)"])
            XCTAssertEqual(denied.status, 401)

            // Anonymous pull token works for /v2/ (empty access is enough there).
            let anonymousToken = try await fetchToken(tokenServer, scopes: ["repository:a/b:pull"], auth: nil)
            let ping = try await TestHTTP.request("GET", registry.baseURL + "/v2/", headers: ["Authorization": "Bearer \(anonymousToken)"])
            XCTAssertEqual(ping.status, 200)

            // Wrong password: 401 with a Basic challenge.
            let wrong = try await TestHTTP.request("GET", tokenServer.realm + "?service=\(service)",
                                                   headers: ["Authorization": basic(reader, "nope")])
            XCTAssertEqual(wrong.status, 401)
            XCTAssertEqual(wrong.headers["WWW-Authenticate"]?.hasPrefix("Basic realm="), true)

            // OAuth2 POST with a refresh token, then the refresh grant; unknown refresh tokens are refused.
            tokenServer.resetStats()
            let form = "grant_type=password&username=\(reader)&password=\(readerPassword)&service=\(service)"
                + "&scope=repository%3Aa%2Fb%3Apull+repository%3Ac%2Fd%3Apull&client_id=harness&access_type=offline"
            let post = try await TestHTTP.request("POST", tokenServer.realm,
                                                  headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                                  body: Array(form.utf8))
            XCTAssertEqual(post.status, 200, post.bodyText)
            let postJSON = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(post.body)) as? [String: Any])
            let refresh = try XCTUnwrap(postJSON["refresh_token"] as? String)
            let refreshed = try await TestHTTP.request(
                "POST", tokenServer.realm, headers: ["Content-Type": "application/x-www-form-urlencoded"],
                body: Array("grant_type=refresh_token&refresh_token=\(refresh)&service=\(service)&scope=repository%3Aa%2Fb%3Apull".utf8))
            XCTAssertEqual(refreshed.status, 200, refreshed.bodyText)
            let bogus = try await TestHTTP.request(
                "POST", tokenServer.realm, headers: ["Content-Type": "application/x-www-form-urlencoded"],
                body: Array("grant_type=refresh_token&refresh_token=bogus&service=\(service)".utf8))
            XCTAssertEqual(bogus.status, 401)
            XCTAssertTrue(bogus.bodyText.contains("UNAUTHORIZED"))
            let stats = tokenServer.stats()
            XCTAssertEqual(stats.byMethod, ["POST": 3])
            XCTAssertEqual(stats.byGrantType, ["password": 1, "refresh_token": 2])
            XCTAssertEqual(stats.tokensIssued, 2)
            XCTAssertEqual(stats.authFailures, 1)
            XCTAssertEqual(Array(stats.scopes.prefix(3)), ["repository:a/b:pull", "repository:c/d:pull", "repository:a/b:pull"])

            // POST can be switched off (404) to exercise a client's GET fallback.
            tokenServer.setPostTokenEnabled(false)
            let off = try await TestHTTP.request("POST", tokenServer.realm,
                                                 headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                                 body: Array(form.utf8))
            XCTAssertEqual(off.status, 404)
        }
    }

    private func fetchToken(_ server: TokenServer, scopes: [String], auth: String?) async throws -> String {
        var url = server.realm + "?service=\(server.service)"
        for scope in scopes {
            url += "&scope=" + (scope.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? scope)
        }
        var headers = FakeHeaders()
        if let auth { headers["Authorization"] = auth }
        let response = try await TestHTTP.request("GET", url, headers: headers)
        XCTAssertEqual(response.status, 200, response.bodyText)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        return try XCTUnwrap(json["token"] as? String)
    }

    func testStandaloneTokenServer() async throws {
        try XCTSkipUnless(TestRegistry.isAvailable(.token), "openssl missing")
        var options = TokenServer.Options()
        options.service = "svc"
        options.issuer = "iss"
        options.users = [TokenServer.User("alice", password: "pw", actions: ["pull"],
                                          repositoryActions: ["alice/own": ["pull", "push", "delete"]])]
        options.anonymousActions = []
        options.tokenTTL = 120
        let server = try await TokenServer.start(options)
        do {
            XCTAssertEqual(server.realm, "http://127.0.0.1:\(server.port)/token")
            XCTAssertTrue(FileManager.default.fileExists(atPath: server.certificatePath))

            let response = try await TestHTTP.request(
                "GET", server.realm + "?service=svc&scope=repository%3Aalice%2Fown%3Apush%2Cpull%20repository%3Aother%3Apull%2Cpush",
                headers: ["Authorization": basic("alice", "pw")])
            XCTAssertEqual(response.status, 200, response.bodyText)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            XCTAssertEqual(json["expires_in"] as? Int, 120)
            let parts = try XCTUnwrap(json["token"] as? String).split(separator: ".").map(String.init)
            XCTAssertEqual(parts.count, 3)
            let header = try XCTUnwrap(JSONSerialization.jsonObject(with: base64URLDecode(parts[0])) as? [String: Any])
            XCTAssertEqual(header["alg"] as? String, "ES256")
            XCTAssertEqual(header["typ"] as? String, "JWT")
            let x5c = try XCTUnwrap(header["x5c"] as? [String])
            XCTAssertNotNil(Data(base64Encoded: try XCTUnwrap(x5c.first)), "x5c must be standard base64")
            let claims = try XCTUnwrap(JSONSerialization.jsonObject(with: base64URLDecode(parts[1])) as? [String: Any])
            XCTAssertEqual(claims["aud"] as? String, "svc")
            XCTAssertEqual(claims["iss"] as? String, "iss")
            XCTAssertEqual(claims["sub"] as? String, "alice")
            let exp = try XCTUnwrap(claims["exp"] as? Int)
            let iat = try XCTUnwrap(claims["iat"] as? Int)
            XCTAssertEqual(exp - iat, 120)
            let access = try XCTUnwrap(claims["access"] as? [[String: Any]])
            XCTAssertEqual(access.count, 2)
            XCTAssertEqual(access.first?["name"] as? String, "alice/own")
            XCTAssertEqual(access.first?["actions"] as? [String], ["push", "pull"])
            XCTAssertEqual(access.last?["name"] as? String, "other")
            XCTAssertEqual(access.last?["actions"] as? [String], ["pull"])
            XCTAssertEqual(base64URLDecode(parts[2]).count, 64, "ES256 signatures are raw r||s")

            // Anonymous gets nothing here; the stats saw both scope strings.
            XCTAssertEqual(server.grant(user: nil, scopes: ["repository:x:pull"]), [])
            XCTAssertEqual(server.stats().scopes, ["repository:alice/own:push,pull", "repository:other:pull,push"])
            XCTAssertEqual(server.stats().byUser, ["alice": 1])
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.certificatePath))
    }

    private func base64URLDecode(_ text: String) -> Data {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s) ?? Data()
    }

    // MARK: Fake server

    func testFakeServerNormalAndCut() async throws {
        let payload = Array((0..<1000).map { UInt8($0 % 251) })
        try await FakeHTTPServer.withServer(handler: { request in
            switch request.path {
            case "/v2/": return .json(200, "{}")
            case "/cut": return FakeResponse(status: 200, body: payload, behavior: .cutAfter(bytes: 100))
            case "/drip": return FakeResponse(status: 200, body: payload, behavior: .drip(chunkSize: 250, interval: .milliseconds(5)))
            case "/close": return FakeResponse(behavior: .closeWithoutResponse)
            case "/endless": return FakeResponse(behavior: .endless)
            case "/echo": return FakeResponse(status: 201, headers: ["X-Method": request.method], body: request.body)
            default: return .registryError(404, code: "NAME_UNKNOWN", message: "nope")
            }
        }) { fake in
            XCTAssertEqual(fake.baseURL, "http://127.0.0.1:\(fake.port)")

            let normal = try await TestHTTP.request("GET", fake.baseURL + "/v2/")
            XCTAssertEqual(normal.status, 200)
            XCTAssertEqual(normal.bodyText, "{}")
            XCTAssertEqual(normal.headers["content-type"], "application/json")
            XCTAssertTrue(normal.isComplete)

            let cut = try await TestHTTP.request("GET", fake.baseURL + "/cut")
            XCTAssertEqual(cut.status, 200)
            XCTAssertEqual(cut.headers["Content-Length"], "1000")
            XCTAssertEqual(cut.body, Array(payload.prefix(100)))
            XCTAssertFalse(cut.isComplete)

            let drip = try await TestHTTP.request("GET", fake.baseURL + "/drip")
            XCTAssertEqual(drip.body, payload)
            XCTAssertTrue(drip.isComplete)

            do {
                _ = try await TestHTTP.request("GET", fake.baseURL + "/close")
                XCTFail("expected no response")
            } catch {}

            let endless = try await TestHTTP.request("GET", fake.baseURL + "/endless", maxBodyBytes: 1 << 20)
            XCTAssertEqual(endless.status, 200)
            XCTAssertEqual(endless.headers["Transfer-Encoding"], "chunked")
            XCTAssertFalse(endless.isComplete)
            XCTAssertGreaterThan(endless.body.count, 1 << 19)

            let echo = try await TestHTTP.request("PUT", fake.baseURL + "/echo?digest=sha256%3Aabc&n=1+2",
                                                  body: Array("payload".utf8))
            XCTAssertEqual(echo.status, 201)
            XCTAssertEqual(echo.bodyText, "payload")
            XCTAssertEqual(echo.headers["x-method"], "PUT")

            let requests = fake.requests()
            XCTAssertEqual(requests.map(\.path), ["/v2/", "/cut", "/drip", "/close", "/endless", "/echo"])
            let last = try XCTUnwrap(requests.last)
            XCTAssertEqual(last.uri, "/echo?digest=sha256%3Aabc&n=1+2")
            XCTAssertEqual(last.queryValue("digest"), "sha256:abc")
            XCTAssertEqual(last.queryValue("n"), "1 2")
            XCTAssertEqual(last.headers["content-length"], "7")
            XCTAssertEqual(last.bodyText, "payload")
            fake.resetRequests()
            XCTAssertTrue(fake.requests().isEmpty)
        }
    }

    func testFakeServerKeepAlive() async throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl not installed")
        try await FakeHTTPServer.withServer(handler: { _ in .json(200, "{}") }) { fake in
            // One curl invocation with two URLs reuses its connection.
            let (status, _) = try curl(["-s", "-o", "/dev/null", "-o", "/dev/null", fake.baseURL + "/a", fake.baseURL + "/b"])
            XCTAssertEqual(status, 0)
            let requests = fake.requests()
            XCTAssertEqual(requests.count, 2)
            XCTAssertEqual(requests.first?.connectionID, requests.last?.connectionID)
        }
    }
}
