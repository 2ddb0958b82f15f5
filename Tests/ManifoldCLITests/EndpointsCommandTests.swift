import Foundation
import JSONValue
@testable import ManifoldCLI
import TestSupport
import Testing

/// `manifold endpoints`: the registry from the command line, against a store file (an engine running on it sees the
/// changes within a sweep).
@Suite struct EndpointsCommandTests {
    @Test func anOperatorManagesEndpointsFromTheCommandLine() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let store = folder.appending(path: "manifold.db").path
            let env = folder.appending(path: "keys.env")
            // Without the key nothing is done, and the error says how to make one.
            let keyless = await (try EndpointsListCommand.parse(["--store", store])).perform()
            #expect(keyless.status == 2 && keyless.standardError.contains("manifold endpoints key"), "\(keyless.standardError)")
            let key = EndpointsKeyCommand().perform().standardOutput
            #expect(key.hasPrefix("MANIFOLD_ENDPOINT_KEY=") && key.count > 40)
            try key.write(to: env, atomically: true, encoding: .utf8)
            let common = ["--store", store, "--env-file", env.path]
            let added = await (try EndpointsAddCommand.parse(common + ["--allow-private-networks", "--tenant", "acme", "--url",
                                                                  "https://hooks.acme.example/in?token=t0k3n", "--event-type", "invoice.*",
                                                                  "--header", "X-Account: 42", "--format", "json"])).perform()
            #expect(added.status == 0, "\(added.standardError)")
            let made = try JSONParser.parse(added.standardOutput)
            let id = try #require(made["id"]?.stringValue)
            let secret = try #require(made["secret"]?.stringValue)
            #expect(made["url"] == "https://hooks.acme.example/in?[redacted]", "a token in the URL is not shown")
            let listed = await (try EndpointsListCommand.parse(common + ["--tenant", "acme"])).perform()
            #expect(listed.standardOutput.contains(id) && listed.standardOutput.contains("invoice.*") && !listed.standardOutput.contains(secret))
            let rotated = await (try EndpointsRotateCommand.parse(common + [id, "--overlap", "2h"])).perform()
            #expect(rotated.standardOutput.contains("secret whsec_") && rotated.standardOutput.contains("signs too for 2h"))
            #expect(await (try EndpointsDisableCommand.parse(common + [id, "--reason", "customer asked"])).perform().status == 0)
            #expect(await (try EndpointsEnableCommand.parse(common + [id])).perform().standardOutput == "enabled endpoint \(id)\n")
            let shown = await (try EndpointsShowCommand.parse(common + [id])).perform()
            #expect(shown.status == 0 && shown.standardOutput.contains("created") && shown.standardOutput.contains("rotated")
                    && shown.standardOutput.contains("disabled  customer asked"), "\(shown.standardOutput)")
            #expect(!shown.standardOutput.contains(secret.dropFirst(6)))
            #expect(await (try EndpointsRemoveCommand.parse(common + [id])).perform().status == 0)
            #expect(await (try EndpointsListCommand.parse(common)).perform().standardOutput == "no endpoints\n")
            // Refused, with the reason: an address an endpoint may not have, plain http.
            let metadata = await (try EndpointsAddCommand.parse(common + ["--tenant", "acme", "--url", "https://169.254.169.254/"])).perform()
            #expect(metadata.status == 2 && metadata.standardError.contains("169.254.169.254"), "\(metadata.standardError)")
            let plain = await (try EndpointsAddCommand.parse(common + ["--tenant", "acme", "--url", "http://hooks.acme.example/"])).perform()
            #expect(plain.status == 2 && plain.standardError.contains("must be https"))
            // The secret is never in the store in the clear.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: store)) + ((try? Data(contentsOf: URL(fileURLWithPath: store + "-wal"))) ?? Data())
            #expect(bytes.range(of: Data(secret.dropFirst(6).utf8)) == nil)
        }
    }
}
