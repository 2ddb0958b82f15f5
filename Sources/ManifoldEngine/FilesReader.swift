import Crypto
import Foundation
import JSONata
import JSONValue
import ManifoldDelivery
import ManifoldPlan

/// Reads a file of records (CSV with a header line, or JSON Lines) into pulled records: one per row, with its line
/// number; a row that cannot be read is kept as a quarantined record saying which line and why.
enum FilesReader {
    /// Whether a name in the folder is a file to read: not hidden, not being written (`.tmp`, `.part`), not ours.
    static func isCandidate(_ name: String) -> Bool {
        !name.hasPrefix(".") && !name.hasSuffix(".tmp") && !name.hasSuffix(".part") && !name.hasSuffix(".error.txt")
            && name != "done" && name != "failed"
    }

    static func read(_ url: URL, format: FilesSource.Format, source: FilesSource) -> Parsed<[PulledRecord]> {
        guard let data = try? Data(contentsOf: url) else { return .failure("it cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { return .failure("it is not UTF-8 text") }
        let hash = SHA256.hash(data: data).prefix(6).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let name = url.lastPathComponent
        let rows: [(line: Int, row: Parsed<JSON>)]
        switch format {
        case .jsonl: rows = jsonLines(text)
        case .csv:
            switch csv(text) {
            case .failure(let problem): return .failure(problem)
            case .success(let parsed): rows = parsed
            }
        }
        let eventID = source.eventID.flatMap { try? JSONataExpression($0.source) }
        let eventType = source.eventType.flatMap { try? JSONataExpression($0.source) }
        var records: [PulledRecord] = []
        records.reserveCapacity(rows.count)
        for (line, row) in rows {
            let origin: JSON = ["file": .string(name), "line": .number(Double(line))]
            let fallbackID = "\(name):\(hash):\(line)"
            switch row {
            case .failure(let problem):
                records.append(PulledRecord(eventID: fallbackID, eventType: nil, payload: ["line": .number(Double(line))],
                                            quarantine: "\(name) line \(line): \(problem)", origin: origin))
            case .success(let value):
                let bindings: [String: JSON] = ["file": .string(name), "line": .number(Double(line))]
                var id = fallbackID
                var problem: String?
                if let eventID {
                    if let value = try? eventID.evaluate(value, bindings: bindings), let text = CompiledTemplate.scalarText(value), !text.isEmpty {
                        id = text
                    } else {
                        problem = "\(name) line \(line): event_id gave no text or number"
                    }
                }
                let type = (try? eventType?.evaluate(value, bindings: bindings)).flatMap { $0 }.map(CompiledTemplate.text(of:))
                records.append(PulledRecord(eventID: id, eventType: type, payload: value, quarantine: problem, origin: origin))
            }
        }
        return .success(records)
    }

    static func jsonLines(_ text: String) -> [(line: Int, row: Parsed<JSON>)] {
        var rows: [(Int, Parsed<JSON>)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.hasSuffix("\r") ? line.dropLast() : line[...]
            if content.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do {
                let value = try JSONParser.parse(String(content))
                if case .object = value {
                    rows.append((index + 1, .success(value)))
                } else {
                    rows.append((index + 1, .failure("a JSON Lines row must be an object")))
                }
            } catch {
                rows.append((index + 1, .failure("not JSON: \(error)")))
            }
        }
        return rows
    }

    /// RFC 4180: fields separated by commas, quoted with `"` (a quote doubled inside), a quoted field may span lines.
    /// The first record names the columns; each further record is an object of them (text values), its line the
    /// one it starts on. A record with the wrong number of fields, or an unclosed quote, is a bad row.
    static func csv(_ text: String) -> Parsed<[(line: Int, row: Parsed<JSON>)]> {
        var records: [(line: Int, fields: [String], problem: String?)] = []
        var fields: [String] = []
        var field = ""
        var quoted = false, wasQuoted = false
        var line = 1, recordLine = 1
        var problem: String?
        var characters = Array(text.unicodeScalars)
        if characters.first == "\u{FEFF}" { characters.removeFirst() }
        var index = 0
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !wasQuoted) {
                records.append((recordLine, fields, problem))
            }
            fields = []
            field = ""
            wasQuoted = false
            problem = nil
        }
        while index < characters.count {
            let character = characters[index]
            if quoted {
                if character == "\"" {
                    if index + 1 < characters.count, characters[index + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if character == "\n" { line += 1 }
                    field.unicodeScalars.append(character)
                }
            } else {
                switch character {
                case ",":
                    fields.append(field)
                    field = ""
                case "\"":
                    if field.isEmpty {
                        quoted = true
                        wasQuoted = true
                    } else {
                        problem = problem ?? "a quote inside an unquoted field"
                        field.unicodeScalars.append(character)
                    }
                case "\r":
                    break
                case "\n":
                    endRecord()
                    line += 1
                    recordLine = line
                default:
                    field.unicodeScalars.append(character)
                }
            }
            index += 1
        }
        if quoted { problem = "a quoted field is not closed before the end of the file" }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { endRecord() }
        guard let header = records.first else { return .failure("it is empty: a CSV file starts with a header line naming its columns") }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        if columns.contains(where: \.isEmpty) || Set(columns).count != columns.count {
            return .failure("its header line (line 1) must name every column once")
        }
        return .success(records.dropFirst().map { record in
            if let problem = record.problem { return (record.line, .failure(problem)) }
            guard record.fields.count == columns.count else {
                return (record.line, .failure("\(record.fields.count) field\(record.fields.count == 1 ? "" : "s") where the header names \(columns.count)"))
            }
            return (record.line, .success(.object(JSONObject(zip(columns, record.fields.map(JSON.string)).map { ($0, $1) }))))
        })
    }
}

/// A value read, or why it could not be (said for the person reading the quarantine).
enum Parsed<Value: Sendable>: Sendable {
    case success(Value)
    case failure(String)
}
