import ArgumentParser
import Foundation
import JSONata
import JSONValue
import ManifoldCompiler

/// `manifold eval`: the JSONata playground, and the conformance runner's JSON Lines protocol.
struct EvalCommand: ParsableCommand, OutputCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a JSONata expression against a JSON document and print the result.",
        discussion: """
            The input is --input FILE, else standard input (when it is not a terminal). An undefined result \
            prints nothing. A malformed expression or a failed evaluation prints the error code and position \
            and exits 1. With --jsonl, reads {"id", "expr", "data", "bindings", "timelimit", "depth"} lines \
            and answers each with {"id", "result"}, {"id", "undefined": true} or {"id", "error"}.
            """
    )

    @Argument(help: "The JSONata expression.")
    var expression: String?

    @Option(name: .shortAndLong, help: "A JSON file to evaluate against (default: standard input).")
    var input: String?

    @Flag(help: "Speak the conformance runner's JSON Lines protocol on standard input and output.")
    var jsonl = false

    @Option(help: ArgumentHelp("Evaluate N times and print timing figures to standard error (compiled once).", valueName: "N"))
    var `repeat`: Int?

    func validate() throws {
        if !jsonl, expression == nil { throw ValidationError("an expression is required (or --jsonl)") }
    }

    func perform() -> CommandOutput {
        if jsonl {
            Self.serveJSONLines()
            return CommandOutput()
        }
        guard let source = expression else { return .failure("an expression is required") }
        let data: Data?
        if let input {
            do {
                data = try SourceLoader.read(input)
            } catch {
                return .failure(error.description)
            }
        } else if isatty(STDIN_FILENO) == 0 {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = nil
        }
        var document: JSON?
        if let data, !data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            do {
                document = try JSONParser.parse(bytes: data)
            } catch {
                return .failure("\(input ?? "standard input"):\(error.line):\(error.column): invalid JSON: \(error.message)")
            }
        }
        do {
            let expression = try JSONataExpression(source)
            var timing = ""
            if let count = `repeat`, count > 0 {
                timing = try Self.measure(expression, document, count: count)
            }
            guard let result = try expression.evaluate(document) else { return CommandOutput(standardError: timing) }
            return CommandOutput(standardOutput: result.serialized(.pretty) + "\n", standardError: timing)
        } catch {
            return CommandOutput(standardError: Self.describe(error, in: source), status: 1)
        }
    }

    /// Evaluates `count` times in 20 batches and reports the median time of one evaluation.
    static func measure(_ expression: JSONataExpression, _ document: JSON?, count: Int) throws(JSONataError) -> String {
        let batches = 20
        let perBatch = max(1, count / batches)
        var samples: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<batches {
            let start = clock.now
            for _ in 0..<perBatch { _ = try expression.evaluate(document) }
            let elapsed = clock.now - start
            samples.append(Double(elapsed.components.attoseconds) / 1e12 / Double(perBatch) + Double(elapsed.components.seconds) * 1e6 / Double(perBatch))
        }
        samples.sort()
        let median = samples[samples.count / 2]
        return "evaluations: \(perBatch * batches), median \(String(format: "%.2f", median)) us per evaluation (batch medians, min \(String(format: "%.2f", samples.first!)) us)\n"
    }

    /// The error with the expression and a caret under its position.
    static func describe(_ error: JSONataError, in source: String) -> String {
        var text = "error: \(error.code)" + (error.position.map { " at position \($0)" } ?? "") + ": \(error.message)\n"
        if let position = error.position, !source.contains("\n") {
            text += "  \(source)\n  " + String(repeating: " ", count: max(0, min(position, source.count) - 1)) + "^\n"
        }
        return text
    }

    /// One request per line in, one answer per line out, flushed as it is ready.
    static func serveJSONLines() {
        var cache: [String: Result<JSONataExpression, JSONataError>] = [:]
        while let line = readLine(strippingNewline: true) {
            guard !line.isEmpty, let request = try? JSONParser.parse(line), let id = request["id"] else { continue }
            var answer = JSONObject()
            answer["id"] = id
            let source = request["expr"]?.stringValue ?? ""
            let compiled = cache[source] ?? Result { () throws(JSONataError) in try JSONataExpression(source) }
            cache[source] = compiled
            do {
                let expression = try compiled.get()
                var bindings: [String: JSON] = [:]
                for (name, value) in request["bindings"]?.objectValue ?? JSONObject() { bindings[name] = value }
                var limits = JSONataExpression.Limits(maximumDepth: 10_000, timeLimit: .seconds(10))
                if let depth = request["depth"]?.intValue { limits.maximumDepth = depth }
                if let milliseconds = request["timelimit"]?.intValue { limits.timeLimit = .milliseconds(milliseconds) }
                if let result = try expression.evaluate(request.objectValue?["data"], bindings: bindings, limits: limits) {
                    answer["result"] = result
                } else {
                    answer["undefined"] = true
                }
            } catch {
                var failure: JSONObject = ["code": .string(error.code), "message": .string(error.message)]
                if let position = error.position { failure["position"] = .number(Double(position)) }
                if let token = error.token { failure["token"] = .string(token) }
                answer["error"] = .object(failure)
            }
            FileHandle.standardOutput.write(Data((JSON.object(answer).serialized() + "\n").utf8))
        }
    }
}
