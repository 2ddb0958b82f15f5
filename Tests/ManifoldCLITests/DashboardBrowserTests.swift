import AsyncHTTPClient
import Foundation
import JSONValue
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// The dashboard in a real browser: Debian's Chromium, headless, driven through chromedriver (W3C WebDriver over
/// HTTP). `scripts/test` installs both; without them this test fails and says so.
@Suite struct DashboardBrowserTests {
    /// A WebDriver session.
    struct Browser {
        let driver: Process
        let base: String
        let session: String
        /// The browser's profile directory, which names its processes.
        let profile: String

        static func start() async throws -> Browser {
            let executable = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            }
            guard let executable else {
                Issue.record("chromedriver is not installed: scripts/test installs chromium and chromium-driver")
                throw CocoaError(.fileNoSuchFile)
            }
            let log = FileManager.default.temporaryDirectory.appending(path: "chromedriver-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let driver = Process()
            driver.executableURL = URL(fileURLWithPath: executable)
            driver.arguments = ["--port=0"]
            driver.standardOutput = try FileHandle(forWritingTo: log)
            driver.standardError = FileHandle.nullDevice
            try driver.run()
            // Until it says it listens (or exits): on a busy machine that took more than the 10 s this once allowed.
            var port = 0
            var text = ""
            try await Eventually.until(every: .milliseconds(100)) {
                text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if let range = text.range(of: #"started successfully on port (\d+)"#, options: .regularExpression) {
                    port = Int(text[range].split(separator: " ").last!) ?? 0
                }
                return port > 0 || !driver.isRunning
            }
            guard port > 0 else {
                driver.terminate()
                Issue.record("chromedriver did not say it listens: \(text.suffix(500))")
                throw CocoaError(.fileReadUnknown)
            }
            let base = "http://127.0.0.1:\(port)"
            // A profile of its own: the browser's processes are found by it, and killed, when the test quits.
            let profile = FileManager.default.temporaryDirectory.appending(path: "manifold-chromium-\(UUID().uuidString)").path
            let options: JSON = [
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100",
                         .string("--user-data-dir=" + profile)],
            ]
            let capabilities: JSON = ["capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": options]]]
            let created = try await Self.call(base + "/session", method: .POST, body: capabilities)
            guard let session = created["value"]?["sessionId"]?.stringValue else {
                driver.terminate()
                Issue.record("chromedriver did not start a session: \(created)")
                throw CocoaError(.fileReadUnknown)
            }
            return Browser(driver: driver, base: base, session: session, profile: profile)
        }

        static func call(_ url: String, method: HTTPMethod, body: JSON? = nil) async throws -> JSON {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body.serialized()))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            return try JSONParser.parse(String(buffer: try await response.body.collect(upTo: 32 << 20)))
        }

        func command(_ path: String, _ body: JSON? = nil, method: HTTPMethod = .POST) async throws -> JSON {
            return try await Self.call(base + "/session/\(session)" + path, method: method, body: body ?? (method == .POST ? [:] : nil))["value"] ?? .null
        }

        func open(_ url: String) async throws { _ = try await command("/url", ["url": .string(url)]) }

        /// Runs JavaScript in the page and returns its value.
        func script(_ source: String) async throws -> JSON {
            try await command("/execute/sync", ["script": .string(source), "args": []])
        }

        func element(_ selector: String) async throws -> String {
            let found = try await command("/element", ["using": "css selector", "value": .string(selector)])
            guard let id = found["element-6066-11e4-a52e-4f735466cecf"]?.stringValue else {
                throw CocoaError(.fileNoSuchFile, userInfo: ["selector": selector, "answer": "\(found)"])
            }
            return id
        }

        /// Finds and clicks in one step, in the page: the page re-renders its tables every 2 s, and an element found
        /// by one WebDriver call can be replaced before the next one clicks it (seen on a loaded machine).
        func click(_ selector: String) async throws {
            let selectorText = JSON.string(selector).serialized()
            let clicked = try await waitFor("(function () { const e = document.querySelector(\(selectorText)); if (!e) return false; e.click(); return true; })()")
            if !clicked { throw CocoaError(.fileNoSuchFile, userInfo: ["selector": selector]) }
        }

        /// Types `text` into the element, again until the page shows it there: WebDriver types into the element it
        /// found, which a re-render (every 2 s) may have replaced before the keys arrived, and then answers "stale
        /// element" and types nothing (seen on a loaded machine).
        func type(_ text: String, into selector: String) async throws {
            let selectorText = JSON.string(selector).serialized()
            let typed = try await Eventually.until(every: .milliseconds(200)) {
                guard let id = try? await element(selector) else { return false }
                _ = try await command("/element/\(id)/clear")
                _ = try await command("/element/\(id)/value", ["text": .string(text)])
                let shown = "const e = document.querySelector(\(selectorText)); return e !== null && e.value === \(JSON.string(text).serialized())"
                return try await script(shown).boolValue == true
            }
            if !typed { throw CocoaError(.fileNoSuchFile, userInfo: ["selector": selector, "text": text]) }
        }

        func screenshot() async throws -> Data {
            // Through the DevTools protocol (chromedriver's W3C GET /screenshot refuses a bodyless GET from this client).
            let answer = try await command("/goog/cdp/execute", ["cmd": "Page.captureScreenshot", "params": ["format": "png"]])
            guard let encoded = answer["data"]?.stringValue, let png = Data(base64Encoded: encoded) else {
                Issue.record("chromedriver did not return a screenshot: \(answer.serialized().prefix(300))")
                return Data()
            }
            return png
        }

        /// Polls a JavaScript condition until it returns true (`Eventually`: a bound on a hang, not a window).
        func waitFor(_ condition: String) async throws -> Bool {
            try await Eventually.until(every: .milliseconds(200)) { try await script("return Boolean(\(condition))").boolValue == true }
        }

        func quit() async {
            // A blank page first: a dashboard left open polls its engine's port every 2 s, and the system may hand that
            // port to another test's mock vendor (seen on CI) should the browser outlive its driver.
            _ = try? await command("/url", ["url": "about:blank"])
            _ = try? await command("", method: .DELETE)
            // chromedriver may not exit on SIGTERM while it winds its browser down: it is not waited for.
            kill(driver.processIdentifier, SIGKILL)
            // Nor does killing it end the browser: chromium's processes outlived their driver, each holding inotify
            // instances, until the user's limit (128) was reached and the engine's file watcher could watch nothing.
            let sweep = Process()
            sweep.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
            sweep.arguments = ["-KILL", "-f", "--", "--user-data-dir=" + profile]
            sweep.standardOutput = FileHandle.nullDevice
            sweep.standardError = FileHandle.nullDevice
            try? sweep.run()
            sweep.waitUntilExit()
            try? FileManager.default.removeItem(atPath: profile)
        }
    }

    @Test func theDashboardShowsAFailingVendorLiveAndReplaysADeadLetter() async throws {
        try await TemporaryDirectory.withAsync { folder in
            // A folder of files beside it: a pull, whose standing the page shows too.
            let drop = folder.appending(path: "drop")
            try FileManager.default.createDirectory(at: drop, withIntermediateDirectories: true)
            try Data().write(to: drop.appending(path: "empty.csv"))
            let setup = try await ObservabilityEndToEndTests.start(in: folder, others: ["drop": """
                connector: drop
                source:
                  files: { directory: "\(drop.path)", format: csv, every: 1s, settle: 1s }
                targets:
                  crm:
                    base_url: http://127.0.0.1:9
                    operations:
                      post: { method: POST, path: /rows }
                routes:
                  - name: rows
                    when: id = 'never'
                    call: crm.post
                """])
            defer { setup.stop() }
            let browser = try await Browser.start()
            let engine = "http://127.0.0.1:\(setup.port)"
            do {
                // The dashboard asks for a token first: a wrong one is refused, the admin token signs in.
                try await browser.open(engine + "/")
                #expect(try await browser.waitFor("document.querySelector('#sign-in') !== null"))
                try await browser.type("wrong", into: "#token")
                try await browser.click("#sign-in-button")
                #expect(try await browser.waitFor("document.querySelector('#refused') !== null"))
                try await browser.type(ObservabilityEndToEndTests.secrets["MANIFOLD_ADMIN_TOKEN"]!, into: "#token")
                try await browser.click("#sign-in-button")

                // The page first, on a quiet engine: the lane is there, closed, with nothing failed.
                let lane = #"document.querySelector('tr[data-lane="orders/crm"]')"#
                #expect(try await browser.waitFor("\(lane) && \(lane).querySelector('td.breaker').textContent === 'closed'"))
                // The pull whose file could not be read: its row says so, with the reason.
                let pull = #"document.querySelector('tr[data-pull="drop"]')"#
                #expect(try await browser.waitFor("\(pull) && \(pull).className === 'bad' && \(pull).querySelector('td.error').textContent.includes('empty.csv: it is empty')"),
                        "the failing pull is shown")

                // A rollout started through the admin API: both versions side by side, its share set with the button.
                var start = HTTPClientRequest(url: engine + "/admin/rollouts/orders")
                start.method = .POST
                start.headers.add(name: "Authorization", value: "Bearer " + ObservabilityEndToEndTests.secrets["MANIFOLD_ADMIN_TOKEN"]!)
                let candidate = ObservabilityEndToEndTests.connector.replacingOccurrences(of: #"body: { id: "{% id %}" }"#,
                                                                                          with: #"body: { id: "{% id %}", v: 2 }"#)
                start.body = .bytes(ByteBuffer(string: JSON.object(["candidate": .string(candidate), "share": 10]).serialized()))
                #expect(try await HTTPClient.shared.execute(start, timeout: .seconds(10)).status.code == 201)
                let rollout = #"document.querySelector('tr[data-rollout="orders"][data-version="candidate"]')"#
                #expect(try await browser.waitFor("\(rollout) !== null"), "the rollout's versions are shown")
                try await browser.type(ObservabilityEndToEndTests.secrets["MANIFOLD_ADMIN_TOKEN"]!, into: "#admin-token")
                // No share typed: said, not sent as 0.
                try await browser.click(#"tr[data-rollout="orders"][data-version="current"] button.share"#)
                #expect(try await browser.waitFor("document.querySelector('#action-result').textContent === 'type a share from 0 to 100 first'"))
                // A share typed survives the refreshes that rebuild the rows (every 2 s) until it is sent.
                try await browser.type("40", into: #"tr[data-rollout="orders"][data-version="current"] input.share"#)
                let updated = try await browser.script("return document.querySelector('#updated').textContent").stringValue
                #expect(try await browser.waitFor("document.querySelector('#updated').textContent !== \(JSON.string(updated ?? "").serialized())"))
                #expect(try await browser.waitFor(#"document.querySelector('tr[data-rollout="orders"][data-version="current"] input.share').value === '40'"#))
                try await browser.click(#"tr[data-rollout="orders"][data-version="current"] button.share"#)
                #expect(try await browser.waitFor("document.querySelector('#action-result').textContent.startsWith('share: done')"))
                #expect(try await browser.waitFor(#"document.querySelector('tr[data-rollout="orders"][data-version="current"]').textContent.includes('40%')"#))
                // Rolled back with its button: its rows go, and every event is the current version's again.
                try await browser.click(#"tr[data-rollout="orders"][data-version="current"] button.rollback"#)
                #expect(try await browser.waitFor("document.querySelector('#action-result').textContent.startsWith('rollback: done')"))
                #expect(try await browser.waitFor("\(rollout) === null"))
                _ = try await browser.script("document.querySelector('#admin-token').value = ''; sessionStorage.removeItem('manifold-admin-token'); document.querySelector('#action-result').textContent = ''; return true")

                // The vendor fails; the page, not reloaded, follows.
                try await ObservabilityEndToEndTests.post("http://127.0.0.1:\(setup.vendorPort)/_mode?prefix=/crm&status=503")
                for index in 1...4 { try await ObservabilityEndToEndTests.send("b\(index)", setup: setup) }
                #expect(try await browser.waitFor("\(lane).querySelector('td.breaker').textContent === 'open'"), "the breaker shows open")
                #expect(try await browser.waitFor("\(lane).querySelector('td.errors').textContent === '100.0%'"))
                #expect(try await browser.waitFor("document.querySelectorAll('#failures tbody tr.failure.transient').length > 0"))
                #expect(try await browser.waitFor("document.querySelectorAll('#dead-letters tbody tr').length > 0"))
                #expect(try await browser.waitFor("document.querySelector('#alerts li[data-rule=\"errors\"]') !== null"),
                        "the firing alert is listed")

                // One event's timeline, from a failure's link.
                try await browser.click("#failures tbody tr.failure a.event-link")
                #expect(try await browser.waitFor("document.querySelectorAll('#timeline li.attempt.transient').length > 0"))
                let timeline = try await browser.script("return document.querySelector('#timeline').textContent").stringValue ?? ""
                #expect(timeline.contains("received") && timeline.contains("transient 503"), "\(timeline)")

                // Replay needs the admin token.
                let job = try await browser.script("return document.querySelector('#dead-letters tbody tr').dataset.job").stringValue ?? ""
                try await browser.click(#"#dead-letters tbody tr[data-job="\#(job)"] button.replay"#)
                #expect(try await browser.waitFor("document.querySelector('#action-result').textContent.includes('admin token')"))
                try await browser.type("wrong", into: "#admin-token")
                try await browser.click(#"#dead-letters tbody tr[data-job="\#(job)"] button.replay"#)
                #expect(try await browser.waitFor("document.querySelector('#action-result').textContent.includes('refused (401)')"))
                _ = try await browser.script("document.querySelector('#admin-token').value = ''; return true")
                try await browser.type(ObservabilityEndToEndTests.secrets["MANIFOLD_ADMIN_TOKEN"]!, into: "#admin-token")
                try await ObservabilityEndToEndTests.post("http://127.0.0.1:\(setup.vendorPort)/_mode?prefix=/crm&status=200")
                try await browser.click(#"#dead-letters tbody tr[data-job="\#(job)"] button.replay"#)
                #expect(try await browser.waitFor("document.querySelector('#action-result').textContent.startsWith('replay: done')"))
                let replayed = try await Eventually.until(every: .milliseconds(200)) {
                    try await ObservabilityEndToEndTests.calls(setup).contains {
                        $0["path"]?.stringValue == "/crm/contacts" && $0["status"]?.numberValue == 200
                    }
                }
                #expect(replayed, "the replayed dead letter reached the vendor")
                #expect(try await browser.waitFor(#"document.querySelector('#dead-letters tbody tr[data-job="\#(job)"]') === null"#))

                // A screenshot of the page as the test left it, kept under .build for a person to look at.
                let png = try await browser.screenshot()
                #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "a real screenshot: \(png.count) bytes")
                let artifacts = TestPaths.packageRoot.appending(path: ".build/test-artifacts")
                try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
                try png.write(to: artifacts.appending(path: "dashboard.png"))
                let page = try await browser.script("return document.documentElement.outerHTML").stringValue ?? ""
                for secret in ObservabilityEndToEndTests.secrets.values { #expect(!page.contains(secret), "a secret on the page") }
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
