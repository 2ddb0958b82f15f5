import Foundation
@testable import ManifoldCLI
import ManifoldPlan
import TestSupport
import Testing

/// `manifold docs`: the handbook generated from the examples, as a reader finds it.
@Suite struct DocsCommandTests {
    static let root = TestPaths.packageRoot
    static let connectors = root.appending(path: "connectors")

    /// Every file of the site, by path relative to its folder.
    static func site(_ arguments: [String], in folder: URL) throws -> (output: CommandOutput, files: [String: String]) {
        let output = try DocsCommand.parse(arguments + ["--out", folder.path]).perform()
        var files: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder.path)
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder.appending(path: path).path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = try String(contentsOf: folder.appending(path: path), encoding: .utf8)
            }
        }
        return (output, files)
    }

    /// `folder/relative` with `..` and `.` resolved.
    static func normalized(_ folder: String, _ relative: String) -> String {
        var components: [Substring] = folder.split(separator: "/")
        for component in relative.split(separator: "/") {
            if component == ".." { _ = components.popLast() } else if component != "." { components.append(component) }
        }
        return components.joined(separator: "/")
    }

    static func exampleNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: connectors.path)
            .filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".test.yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    @Test func everyExampleGetsAPageAndEveryLinkResolves() throws {
        try TemporaryDirectory.with { folder in
            let (output, files) = try Self.site([Self.connectors.path, "--config", Self.root.appending(path: "manifold.yaml").path], in: folder)
            #expect(output.status == 0, "\(output.standardError)")
            #expect(output.standardError.isEmpty, "no warnings about variables the docs do not need: \(output.standardError)")
            for name in try Self.exampleNames() {
                #expect(files["connectors/\(name).html"] != nil, "no page for \(name)")
                #expect(files["connectors/\(name).svg"]?.hasPrefix("<svg") == true, "no diagram for \(name)")
            }
            #expect(files["index.html"] != nil && files["onboarding.html"] != nil && files["installation.svg"] != nil && files["style.css"] != nil)
            // Every relative link points at a file of the site, and every #anchor at an id of that page.
            let link = try NSRegularExpression(pattern: #"href="([^"]+)""#)
            var checked = 0
            for (path, text) in files where path.hasSuffix(".html") {
                let folderOfPage = (path as NSString).deletingLastPathComponent
                for match in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let href = String(text[Range(match.range(at: 1), in: text)!]).replacingOccurrences(of: "&amp;", with: "&")
                    #expect(!href.hasPrefix("http"), "\(path) links out of the site: \(href)")
                    let parts = href.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                    let target = parts[0].isEmpty ? path : Self.normalized(folderOfPage, parts[0])
                    guard let page = files[target] else {
                        Issue.record("\(path) links to \(href): no such file (\(target))")
                        continue
                    }
                    if parts.count == 2 {
                        #expect(page.contains("id=\"\(parts[1])\""), "\(path) links to \(href): no such anchor in \(target)")
                    }
                    checked += 1
                }
            }
            #expect(checked > 100, "links checked: \(checked)")
        }
    }

    /// The question a reviewer asks, answered from the page: what happens when HubSpot is down for an hour?
    @Test func theStripePageSaysWhatHappensWhenHubSpotIsDownForAnHour() throws {
        try TemporaryDirectory.with { folder in
            let (_, files) = try Self.site([Self.connectors.appending(path: "stripe-to-hubspot.yaml").path, "--format", "markdown"], in: folder)
            let page = try #require(files["connectors/stripe-to-hubspot.md"])
            let section = try #require(page.components(separatedBy: "#### When `hubspot` is down").dropFirst().first?
                .components(separatedBy: "### Target `slack`").first)
            // Its policies (concurrency 4, breaker 5 failures / 30 s, 8 attempts, 100 per 10 s) give the figures.
            #expect(section.contains("Events keep arriving and are stored and acknowledged as usual"))
            #expect(section.contains("every 30s one call probes"))
            #expect(section.contains("nothing is lost however long the outage"))
            #expect(section.contains("| 1 hour | at most 129 | at most 16 |"), "4 running + 5 to open + 120 probes; 129 / 8 attempts")
            #expect(section.contains("a backlog of 1,000 calls takes at least 1m 40s"))
            #expect(section.contains("manifold dlq replay --connector stripe-to-hubspot --target hubspot"))
            #expect(page.contains("Rate: at most 100 calls per 10s (pool `hubspot`"))
            #expect(page.contains("up to 8 attempts in all"))
            // The file's descriptions flow in: the route's under its heading, the target's under its own.
            #expect(page.contains("### Route `contact`\n\nEvery paid checkout becomes (or updates) the buyer's contact, marked as a customer."))
            #expect(page.contains("### Target `hubspot`\n\nThe sales team's HubSpot portal"))
        }
    }

    /// A flow's page lists its steps in order, what each reads, and who is told when one fails.
    @Test func aFlowsRunbookWalksThroughItsSteps() throws {
        try TemporaryDirectory.with { folder in
            let (_, files) = try Self.site([Self.connectors.appending(path: "stripe-checkout-flow.yaml").path, "--format", "markdown"], in: folder)
            let page = try #require(files["connectors/stripe-checkout-flow.md"])
            #expect(page.contains("as a flow of 4 steps: each call on its own target's lane"))
            #expect(page.contains("3. `deal`: calls `hubspot.create_deal` (`POST https://api.hubapi.com/crm/v3/objects/deals`) on [target `hubspot`](#target-hubspot); reads `$steps.amount`, `$steps.contact`."), "\(page)")
            #expect(page.contains("1. `contact`: calls `hubspot.upsert_contact`") && page.contains("The buyer, found or made by email"), "a step's description")
            #expect(page.contains("4. `announce`: calls `slack.post`") && page.contains("only when `data.object.amount_total >= 100000`"))
            #expect(page.contains("1. `alert`: calls `slack.post`") && page.contains("reads `$failure`"))
            #expect(page.contains("manifold dlq replay --connector stripe-checkout-flow"))
            let svg = try #require(files["connectors/stripe-checkout-flow.svg"])
            #expect(svg.contains("sale — flow of 4 steps"))
        }
    }

    /// The figures come from the file: change the breaker and the answer changes.
    @Test func theOutageFiguresFollowTheTargetsPolicies() throws {
        try TemporaryDirectory.with { folder in
            let source = folder.appending(path: "c.yaml")
            try Data("""
                connector: slow-crm
                version: 1
                source: { webhook: { path: /in, verify: { scheme: hmac, secret: "${env:IN_SECRET}", header: X-Sig } } }
                targets:
                  crm:
                    base_url: https://crm.example
                    concurrency: 2
                    circuit_breaker: { failures: 3, open_for: 1m }
                    retry: { max_attempts: 4, max_elapsed: 2h }
                    operations: { create: { method: POST, path: /things } }
                routes:
                  - { name: r, call: crm.create, body: { a: 1 } }
                """.utf8).write(to: source)
            let (output, files) = try Self.site([source.path, "--format", "markdown"], in: folder.appending(path: "site"))
            #expect(output.status == 0, "\(output.standardError)")
            let page = try #require(files["connectors/slow-crm.md"])
            // 2 running + 3 to open + 60 probes in an hour, 4 attempts each; a day outlasts max_elapsed (2h).
            #expect(page.contains("| 1 hour | at most 65 | at most 16 |"), "\(page)")
            #expect(page.contains("| 1 day | at most 1445 | at most 1445 (the outage outlasts `max_elapsed`"))
            #expect(page.contains("every 1m one call probes"))
            #expect(page.contains("No test file"))
        }
    }

    /// No value of a secret appears anywhere in the site, whether it comes from the environment or is written inline.
    @Test func noSecretAppearsInTheSite() throws {
        try TemporaryDirectory.with { folder in
            let inline = "sk_live_inline_secret_7f3a9c"
            let source = folder.appending(path: "inline.yaml")
            try Data("""
                connector: inline-secrets
                version: 1
                source: { webhook: { path: /in, verify: { scheme: hmac, secret: "\(inline)-verify", header: X-Sig } } }
                targets:
                  crm:
                    base_url: https://crm.example
                    auth: { bearer: { token: "\(inline)-token" } }
                    headers: { X-Api-Key: "\(inline)-header" }
                    operations: { create: { method: POST, path: /things } }
                  billing:
                    base_url: https://billing.example
                    auth: { basic: { username: "\(inline)-user", password: "\(inline)-password" } }
                    operations: { create: { method: POST, path: /things } }
                routes:
                  - { name: r, call: crm.create, body: { a: 1 } }
                  - { name: s, call: billing.create, body: { a: 1 } }
                """.utf8).write(to: source)
            for format in ["html", "markdown"] {
                let out = folder.appending(path: "site-\(format)")
                let (output, files) = try Self.site([Self.connectors.path, source.path, "--env-file", Self.connectors.appending(path: "example.env").path,
                                                     "--format", format, "--config", Self.root.appending(path: "manifold.yaml").path], in: out)
                #expect(output.status == 0, "\(output.standardError)")
                let environment = try EnvironmentFile.read(Self.connectors.appending(path: "example.env").path)
                // The demonstration values are secrets as far as the site is concerned (short ones, like a port, are not).
                let secrets = environment.values.filter { $0.count >= 12 } + [inline]
                #expect(secrets.count > 10)
                for (path, text) in files {
                    for secret in secrets { #expect(!text.contains(secret), "\(format): \(path) shows a secret") }
                }
                let page = try #require(files["connectors/inline-secrets." + (format == "html" ? "html" : "md")])
                #expect(page.contains("written inline (hidden)"))
            }
        }
    }

    @Test func testCasesAndAlertRulesArePartOfTheRunbook() throws {
        try TemporaryDirectory.with { folder in
            let (_, files) = try Self.site([Self.connectors.path, "--format", "markdown", "--config", Self.root.appending(path: "manifold.yaml").path], in: folder)
            let page = try #require(files["connectors/stripe-to-hubspot.md"])
            // Every case of the test file is listed with what it checks.
            let tests = try String(contentsOf: Self.connectors.appending(path: "stripe-to-hubspot.test.yaml"), encoding: .utf8)
            let names = tests.split(separator: "\n").filter { $0.hasPrefix("  - name: ") }.map { $0.dropFirst(10).trimmingCharacters(in: .init(charactersIn: "\"' ")) }
            #expect(names.count >= 5)
            for name in names { #expect(page.contains("| \(name) |"), "case \(name) is not listed") }
            #expect(page.contains("a forged signature; is answered 401"))
            // The rules of manifold.yaml that watch it, linked to the playbook's section.
            #expect(page.contains("| `breaker-open` | critical | a lane's circuit breaker is open | [what to do](#playbook-vendor-failing) |"))
            #expect(page.contains("manifold events list --connector stripe-to-hubspot --status quarantined --since 1h"))
            let index = try #require(files["index.md"])
            #expect(index.contains("| `hubspot` | 100 per 10s | `stripe-checkout-flow/hubspot`, `stripe-to-hubspot/hubspot` |"))
        }
    }
}
