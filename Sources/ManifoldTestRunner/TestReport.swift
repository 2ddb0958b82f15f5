public import ManifoldCompiler
import ManifoldPlan

/// The results of a `manifold test` run: per test file, its cases' results; as text for a person or JUnit XML.
public struct TestReport: Sendable {
    public struct Suite: Sendable {
        public var path: String
        public var connector: String
        public var results: [CaseResult]

        public init(path: String, connector: String, results: [CaseResult]) {
            self.path = path
            self.connector = connector
            self.results = results
        }
    }

    public var suites: [Suite]

    public init(suites: [Suite]) {
        self.suites = suites
    }

    public var cases: Int { suites.reduce(0) { $0 + $1.results.count } }
    public var failed: Int { suites.reduce(0) { $0 + $1.results.filter { !$0.passed }.count } }

    /// Each case passed or failed; under a failure, where the expectation is written and a diff of expected and actual.
    public var text: String {
        var lines: [String] = []
        for suite in suites {
            lines.append("\(suite.path)  (\(suite.connector))")
            for result in suite.results {
                lines.append("  \(result.passed ? "pass" : "FAIL")  \(result.name)  (\(result.duration.milliseconds) ms)")
                for failure in result.failures {
                    lines.append("        \(failure.location): \(failure.message)")
                    lines += Self.diff(expected: failure.expected, actual: failure.actual).map { "          " + $0 }
                }
            }
        }
        lines.append("")
        lines.append("\(cases) case\(cases == 1 ? "" : "s"): \(cases - failed) passed, \(failed) failed")
        return lines.joined(separator: "\n") + "\n"
    }

    /// JUnit XML: a test suite per file, a test case per case, a failure per unmet expectation.
    public var junit: String {
        var lines = [#"<?xml version="1.0" encoding="UTF-8"?>"#,
                     #"<testsuites name="manifold test" tests="\#(cases)" failures="\#(failed)">"#]
        for suite in suites {
            let failures = suite.results.filter { !$0.passed }.count
            let seconds = suite.results.reduce(0.0) { $0 + $1.duration.timeInterval }
            lines.append(#"  <testsuite name="\#(Self.escape(suite.connector))" file="\#(Self.escape(suite.path))" tests="\#(suite.results.count)" failures="\#(failures)" time="\#(Self.format(seconds))">"#)
            for result in suite.results {
                let open = #"    <testcase classname="\#(Self.escape(suite.connector))" name="\#(Self.escape(result.name))" file="\#(Self.escape(suite.path))" line="\#(result.location.line)" time="\#(Self.format(result.duration.timeInterval))""#
                guard !result.passed else {
                    lines.append(open + "/>")
                    continue
                }
                lines.append(open + ">")
                for failure in result.failures {
                    let detail = ["\(failure.location): \(failure.message)"] + Self.diff(expected: failure.expected, actual: failure.actual)
                    lines.append(#"      <failure message="\#(Self.escape(failure.message))">\#(Self.escape(detail.joined(separator: "\n")))</failure>"#)
                }
                lines.append("    </testcase>")
            }
            lines.append("  </testsuite>")
        }
        lines.append("</testsuites>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `- expected` / `+ actual` lines, common lines kept as context (a longest-common-subsequence line diff).
    static func diff(expected: String?, actual: String?) -> [String] {
        switch (expected, actual) {
        case (nil, nil): return []
        case (nil, let actual?): return actual.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        case (let expected?, nil): return expected.split(separator: "\n", omittingEmptySubsequences: false).map { "- " + $0 }
        case (let expected?, let actual?):
            let old = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let new = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var table = Array(repeating: Array(repeating: 0, count: new.count + 1), count: old.count + 1)
            for i in stride(from: old.count - 1, through: 0, by: -1) {
                for j in stride(from: new.count - 1, through: 0, by: -1) {
                    table[i][j] = old[i] == new[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
                }
            }
            var lines = ["--- expected", "+++ actual"]
            var (i, j) = (0, 0)
            while i < old.count || j < new.count {
                if i < old.count, j < new.count, old[i] == new[j] {
                    lines.append("  " + old[i]); i += 1; j += 1
                } else if i < old.count, j == new.count || table[i + 1][j] >= table[i][j + 1] {
                    lines.append("- " + old[i]); i += 1
                } else {
                    lines.append("+ " + new[j]); j += 1
                }
            }
            return lines
        }
    }

    private static func format(_ seconds: Double) -> String {
        String(Double(Int(seconds * 1000)) / 1000)
    }

    private static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
            .replacing("\"", with: "&quot;")
    }
}
