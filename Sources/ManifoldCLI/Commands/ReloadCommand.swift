import ArgumentParser
import AsyncHTTPClient
import Foundation
import JSONValue
import ManifoldEngine
import ManifoldPlan
import NIOCore

/// `manifold reload`: asks a running engine to reload its connectors and prints what changed or why it was refused.
struct ReloadCommand: AsyncParsableCommand, AsyncOutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Ask a running engine to reload its connectors.",
        discussion: """
            Posts to the engine's admin API (POST /admin/reload, with the token in MANIFOLD_ADMIN_TOKEN). The \
            engine compiles every connector file; when all are valid the new plan swaps in and this prints what \
            changed in behaviour; otherwise the running plan stays and this prints the errors with file:line:col.

            Without MANIFOLD_ADMIN_TOKEN (a local engine started without one), this sends the engine SIGHUP \
            instead (its pid is in the store's lock file, --store) and reads the outcome from its /readyz.

            Exit status: 0 reloaded (or nothing changed), 1 refused (the running plan stays), 2 the engine \
            cannot be reached or refused the token.
            """
    )

    @Option(help: "The engine's base URL.")
    var url = "http://127.0.0.1:8080"

    @Option(name: .customLong("env-file"), help: "Read MANIFOLD_ADMIN_TOKEN from a dotenv file as well as the process environment.")
    var environmentFile: String?

    @Option(help: "Without a token: the running engine's store file, whose lock file names its pid.")
    var store = "manifold.db"

    @Option(help: "Output format: text or json (the engine's answer).")
    var format: OutputFormat = .text

    @Option(help: "Colour the diff: auto (when a terminal, unless NO_COLOR is set), always or never.")
    var color: DiffCommand.Colour = .auto

    func perform() async -> CommandOutput {
        var options = CompileOptions()
        options.environmentFile = environmentFile
        let token: String
        switch options.environment() {
        case .failure(let failure): return .failure(failure.message)
        case .success(let environment):
            guard let value = environment["MANIFOLD_ADMIN_TOKEN"], !value.isEmpty else {
                return await signalled()
            }
            token = value
        }
        var request = HTTPClientRequest(url: url.trimmingSuffix("/") + "/admin/reload")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        let status: Int, body: JSON?
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            let bytes = try await response.body.collect(upTo: 8 << 20)
            status = Int(response.status.code)
            body = try? JSONParser.parse(bytes: Array(bytes.readableBytesView))
        } catch {
            return .failure("cannot reach the engine at \(url): \(error)")
        }
        guard let body, let outcome = ReloadOutcome(json: body) else {
            let message = body?["message"]?.stringValue ?? "an answer that is not a reload's"
            return .failure("the engine answered \(status): \(message)")
        }
        let code: Int32 = outcome.result == .rejected ? 1 : 0
        if format == .json { return CommandOutput(standardOutput: body.serialized(.pretty) + "\n", status: code) }
        return CommandOutput(standardOutput: Self.text(outcome, colour: DiffCommand.useColour(color)), status: code)
    }

    /// A local engine without an admin token: SIGHUP to the pid its store's lock file names, then the outcome of
    /// that reload from `/readyz` (`last_reload`).
    private func signalled() async -> CommandOutput {
        let lock = store + ".lock"
        guard let text = try? String(contentsOfFile: lock, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else {
            return .failure("""
                no MANIFOLD_ADMIN_TOKEN, and no running engine found through \(lock): set MANIFOLD_ADMIN_TOKEN \
                (the engine's admin token), give --store the engine's store, or send the engine SIGHUP yourself \
                (it also reloads by itself when a connector file changes)
                """)
        }
        let before = await lastReload()
        guard kill(pid, SIGHUP) == 0 else {
            return .failure("cannot signal the engine (pid \(pid), from \(lock)): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let last = await lastReload(), last["at"] != before?["at"], let outcome = ReloadOutcome(json: last) {
                let code: Int32 = outcome.result == .rejected ? 1 : 0
                if format == .json { return CommandOutput(standardOutput: last.serialized(.pretty) + "\n", status: code) }
                return CommandOutput(standardOutput: Self.text(outcome, colour: DiffCommand.useColour(color)), status: code)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return .failure("signalled the engine (pid \(pid)); \(url)/readyz did not report the reload within 60 s")
    }

    /// The engine's last reload, as `/readyz` reports it.
    private func lastReload() async -> JSON? {
        guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url.trimmingSuffix("/") + "/readyz"),
                                                                   timeout: .seconds(10)),
              let bytes = try? await response.body.collect(upTo: 8 << 20)
        else { return nil }
        return (try? JSONParser.parse(bytes: Array(bytes.readableBytesView)))?["last_reload"]
    }

    /// The outcome as an operator reads it.
    static func text(_ outcome: ReloadOutcome, colour: Bool) -> String {
        let took = String(format: "%.1f ms", outcome.duration.timeInterval * 1000)
        var text: String
        switch outcome.result {
        case .applied:
            text = "reloaded in \(took): plan \(outcome.running) is running\n" + outcome.diff.text(colour: colour)
        case .unchanged:
            text = "reloaded in \(took): no changes in behaviour; plan \(outcome.running) is running\n"
        case .rejected:
            text = "refused: plan \(outcome.running) keeps running\n" + outcome.diagnostics.map { $0 + "\n" }.joined()
        }
        for (route, count) in outcome.heldJobs.sorted(by: { $0.key < $1.key }) {
            text += "held: \(count) queued job(s) of \(route), which the running plan does not have; they resume if it comes back\n"
        }
        return text
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
