import ArgumentParser
import AsyncHTTPClient
import Foundation
import ManifoldCompiler
import ManifoldIngress
import ManifoldPlan
import NIOCore
import NIOHTTP1

/// `manifold send`: signs a test payload as the connector's vendor would and posts it to a running engine.
struct SendCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Sign a test webhook with the connector's scheme and secret and post it to a running engine.",
        discussion: """
            The body is sent as it is in the file; it is signed now, with the first secret, and given a fresh \
            delivery id (or --id). Prints the engine's answer. Exit status: 0 a 2xx answer, 1 another answer, \
            2 usage or I/O error (including no engine listening).
            """
    )

    @OptionGroup var options: EngineOptions

    @Argument(help: "The connector whose webhook to send.")
    var connector: String

    @Option(help: "The file holding the body to send (- for standard input).")
    var body: String

    @Option(help: "The engine's base URL; the connector's webhook path is added unless the URL has a path.")
    var url = "http://127.0.0.1:8080"

    @Option(help: "The Content-Type: json or form (default: what the connector accepts first).")
    var contentType: BodyFormat?

    @Option(help: "The delivery id for schemes that send one (default: a new UUID).")
    var id: String?

    @Option(name: .customLong("header"), help: "An extra header, 'Name: value' (repeatable).")
    var headers: [String] = []

    @Flag(help: "Send the body unsigned (to see the engine refuse it).")
    var unsigned = false

    @Option(help: ArgumentHelp(
        "For public-key schemes (sendgrid, discord, ed25519, ecdsa-p256): a file holding the private key to sign with.",
        discussion: "PEM, or hex or base64 of the key's bytes; its public key must be the connector's public_key."))
    var signingKey: String?

    func perform() async -> CommandOutput {
        let plan: Plan, environment: [String: String]
        switch options.load() {
        case .failure(let failure): return failure.output
        case .success(let loaded): (plan, environment) = loaded
        }
        guard let connectorPlan = plan.connector(named: connector) else {
            let names = plan.connectors.map(\.name).joined(separator: ", ")
            return .failure("there is no connector \(connector) (there are: \(names))")
        }
        let payload: [UInt8]
        do {
            payload = body == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile())
                : Array(try SourceLoader.read(body))
        } catch {
            return .failure("body file \(error.description)")
        }
        guard let source = connectorPlan.source else {
            return .failure("\(connector) pulls (\(connectorPlan.pull?.kind ?? "")): it has no webhook to send to; run it with `manifold poll run \(connector) --once`")
        }
        var signingKeys: [SigningKey] = []
        if let algorithm = source.verification.scheme.keyAlgorithm, !unsigned {
            guard let signingKey else {
                return .failure("\(connector) verifies \(source.verification.scheme.rawValue) signatures with the vendor's public key: "
                                + "give --signing-key FILE with the matching private key (or --unsigned)")
            }
            do {
                signingKeys = [try SigningKey(String(decoding: try SourceLoader.read(signingKey), as: UTF8.self), algorithm: algorithm)]
            } catch let error as KeyError {
                return .failure("--signing-key \(signingKey): \(error.description)")
            } catch {
                return .failure("--signing-key \(error)")
            }
        }
        let endpoint: WebhookEndpoint
        do {
            endpoint = try WebhookEndpoint(connector: connectorPlan, resolver: ConfigResolver(environment: environment),
                                           signingKeys: signingKeys)
        } catch {
            return .failure(error.description)
        }
        guard var target = URL(string: url), let scheme = target.scheme, ["http", "https"].contains(scheme) else {
            return .failure("--url must be an http or https URL (got \(url))")
        }
        if target.path.isEmpty || target.path == "/" {
            target = URL(string: url.hasSuffix("/") ? String(url.dropLast()) : url)!
                .appending(path: String(source.path.dropFirst()))
        }
        let format = contentType.map { $0 == .json ? WebhookSource.ContentType.json : .form }
            ?? source.contentTypes.first ?? .json
        var request = WebhookRequest(method: "POST", target: Self.requestTarget(target), headers: [:], body: payload,
                                     remoteAddress: nil)
        request.headers.append("Content-Type", format == .json ? "application/json" : "application/x-www-form-urlencoded")
        request.headers.append("User-Agent", "manifold-send/\(ManifoldCommand.version)")
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else {
                return .failure("--header must be 'Name: value' (got \(header))")
            }
            request.headers.append(String(header[..<colon]).trimmingCharacters(in: .whitespaces),
                                   String(header[header.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        request.target = endpoint.signature.vendorTarget(for: request)
        if !unsigned {
            let now = Int64(Date().timeIntervalSince1970), delivery = id ?? UUID().uuidString.lowercased()
            // Mailgun signs in the body: its fields are set first, then any header signature.
            if let body = endpoint.signature.signedBody(request, now: now, deliveryID: delivery) { request.body = body }
            for field in endpoint.signature.sign(request, now: now, deliveryID: delivery) { request.headers.append(field.name, field.value) }
        }
        return await post(request, to: URL(string: request.target, relativeTo: target)!.absoluteURL)
    }

    static func requestTarget(_ url: URL) -> String {
        let components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        return (components?.percentEncodedPath ?? url.path) + (components?.percentEncodedQuery.map { "?" + $0 } ?? "")
    }

    private func post(_ webhook: WebhookRequest, to url: URL) async -> CommandOutput {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        for field in webhook.headers { request.headers.add(name: field.name, value: field.value) }
        request.body = .bytes(ByteBuffer(bytes: webhook.body))
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            // One line, as the README shows it: the status, then the engine's JSON answer.
            let text = String(buffer: answer).trimmingCharacters(in: .whitespacesAndNewlines)
            let ok = (200..<300).contains(Int(response.status.code))
            return CommandOutput(standardOutput: "\(response.status.code)" + (text.isEmpty ? "" : " " + text) + "\n",
                                 status: ok ? 0 : 1)
        } catch {
            return .failure("cannot post to \(url.absoluteString): \(error)")
        }
    }
}

/// A body format on the command line.
enum BodyFormat: String, ExpressibleByArgument {
    case json, form
}
