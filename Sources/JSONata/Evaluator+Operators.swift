import Foundation
import JSONValue

extension Evaluator {
    func evaluateBinary(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        let lhs = try evaluate(node.lhs!, input, environment)
        let op = node.value
        func located(_ error: JSONataError) -> JSONataError {
            var error = error
            error.position = node.position
            error.token = op
            return error
        }
        if op == "and" || op == "or" {
            let left = Self.boolean(lhs) ?? false
            if op == "and" {
                guard left else { return .bool(false) }
                return .bool(Self.boolean(try evaluate(node.rhs!, input, environment)) ?? false)
            }
            if left { return .bool(true) }
            return .bool(Self.boolean(try evaluate(node.rhs!, input, environment)) ?? false)
        }
        let rhs = try evaluate(node.rhs!, input, environment)
        do {
            switch op {
            case "+", "-", "*", "/", "%":
                return try Self.arithmetic(lhs, rhs, op)
            case "=":
                guard let lhs, let rhs else { return .bool(false) }
                return .bool(Self.deepEqual(lhs, rhs))
            case "!=":
                guard let lhs, let rhs else { return .bool(false) }
                return .bool(!Self.deepEqual(lhs, rhs))
            case "<", "<=", ">", ">=":
                return try Self.compare(lhs, rhs, op)
            case "&":
                return .string((try lhs.map(Self.string) ?? "") + (try rhs.map(Self.string) ?? ""))
            case "..":
                return try Self.range(lhs, rhs)
            case "in":
                guard let lhs, let rhs else { return .bool(false) }
                let candidates = rhs.arrayValue?.items ?? [rhs]
                return .bool(candidates.contains { Self.strictEqual($0, lhs) })
            default:
                throw JSONataError(code: "S0201", message: "Unknown operator \(op)")
            }
        } catch let error as JSONataError {
            throw located(error)
        } catch {
            throw located(JSONataError(code: "D1000", message: "\(error)"))
        }
    }

    static func isNumeric(_ value: Value?) throws(JSONataError) -> Bool {
        guard case .number(let number)? = value else { return false }
        if number.isNaN { return false }
        if !number.isFinite {
            throw JSONataError(code: "D1001", message: "Number out of range: \(number)")
        }
        return true
    }

    static func arithmetic(_ lhs: Value?, _ rhs: Value?, _ op: String) throws(JSONataError) -> Value? {
        if lhs != nil, !(try isNumeric(lhs)) {
            throw JSONataError(code: "T2001", message: "The left side of the \"\(op)\" operator must evaluate to a number")
        }
        if rhs != nil, !(try isNumeric(rhs)) {
            throw JSONataError(code: "T2002", message: "The right side of the \"\(op)\" operator must evaluate to a number")
        }
        guard case .number(let a)? = lhs, case .number(let b)? = rhs else { return nil }
        switch op {
        case "+": return .number(a + b)
        case "-": return .number(a - b)
        case "*": return .number(a * b)
        case "/": return .number(a / b)
        default: return .number(fmod(a, b))
        }
    }

    static func compare(_ lhs: Value?, _ rhs: Value?, _ op: String) throws(JSONataError) -> Value? {
        func comparable(_ value: Value?) -> Bool {
            switch value {
            case nil, .string?, .number?: true
            default: false
            }
        }
        guard comparable(lhs), comparable(rhs) else {
            throw JSONataError(code: "T2010", message: "The expressions either side of operator \"\(op)\" must evaluate to numeric or string values")
        }
        guard let lhs, let rhs else { return nil }
        let ordering: Bool?
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)):
            ordering = switch op {
            case "<": a < b
            case "<=": a <= b
            case ">": a > b
            default: a >= b
            }
        case (.string(let a), .string(let b)):
            ordering = switch op {
            case "<": Self.precedesInUTF16(a, b)
            case "<=": !Self.precedesInUTF16(b, a)
            case ">": Self.precedesInUTF16(b, a)
            default: !Self.precedesInUTF16(a, b)
            }
        default:
            ordering = nil
        }
        guard let ordering else {
            throw JSONataError(code: "T2009", message: "The values either side of operator \"\(op)\" must be of the same data type")
        }
        return .bool(ordering)
    }

    static func range(_ lhs: Value?, _ rhs: Value?) throws(JSONataError) -> Value? {
        if let lhs {
            guard case .number(let a) = lhs, a.isIntegral else {
                throw JSONataError(code: "T2003", message: "The left side of the range operator (..) must evaluate to an integer")
            }
        }
        if let rhs {
            guard case .number(let b) = rhs, b.isIntegral else {
                throw JSONataError(code: "T2004", message: "The right side of the range operator (..) must evaluate to an integer")
            }
        }
        guard case .number(let a)? = lhs, case .number(let b)? = rhs else { return nil }
        if a > b { return nil }
        let size = b - a + 1
        if size > 1e7 {
            throw JSONataError(code: "D2014", message: "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  Attempted to allocate \(JSON.format(number: size)).")
        }
        return .array(ArrayValue((0..<Int(size)).map { .number(a + Double($0)) }))
    }

    func evaluateUnary(_ node: Node, _ input: Value?, _ environment: Frame) throws(JSONataError) -> Value? {
        switch node.value {
        case "-":
            guard let value = try evaluate(node.expression!, input, environment) else { return nil }
            guard try Self.isNumeric(value), case .number(let number) = value else {
                throw JSONataError(code: "D1002", message: "Cannot negate a non-numeric value", position: node.position, token: "-")
            }
            return .number(-number)
        case "[":
            var result = ArrayValue()
            for item in node.expressions {
                guard let value = try evaluate(item, input, environment) else { continue }
                if item.kind == .unary, item.value == "[" {
                    result.append(value)
                } else {
                    result = Self.append(.array(result), value)?.arrayValue ?? result
                }
            }
            if node.consArray { result.isConstructed = true }
            return .array(result)
        case "{":
            return try evaluateGroup(node, input, environment)
        default:
            throw JSONataError(code: "S0211", message: "Unknown unary operator \(node.value)", position: node.position)
        }
    }

    // MARK: Value helpers

    /// `$boolean` semantics; `nil` for undefined.
    static func boolean(_ value: Value?) -> Bool? {
        guard let value else { return nil }
        switch value {
        case .null: return false
        case .bool(let flag): return flag
        case .number(let number): return number != 0 && !number.isNaN
        case .string(let string): return !string.isEmpty
        case .object(let object): return object.count > 0
        case .function: return false
        case .array(let array):
            if array.items.count == 1 { return boolean(array.items[0]) }
            return array.items.contains { boolean($0) == true }
        }
    }

    /// `$append` semantics: undefined arguments are ignored; the result is a new plain array.
    static func append(_ first: Value?, _ second: Value?) -> Value? {
        guard let first else { return second }
        guard let second else { return first }
        let left = first.arrayValue?.items ?? [first]
        let right = second.arrayValue?.items ?? [second]
        return .array(ArrayValue(left + right))
    }

    /// JSON-style deep equality (jsonata-js `isDeepEqual`).
    static func deepEqual(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return sameText(a, b)
        case (.array(let a), .array(let b)):
            guard a.items.count == b.items.count else { return false }
            return zip(a.items, b.items).allSatisfy { deepEqual($0, $1) }
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            return a.members.allSatisfy { member in b[member.key].map { deepEqual(member.value, $0) } ?? false }
        case (.function(let a), .function(let b)): return a === b
        default: return false
        }
    }

    /// JavaScript `===`: primitives by value, arrays/objects/functions by identity.
    static func strictEqual(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return sameText(a, b)
        case (.array(let a), .array(let b)): return a === b
        case (.object(let a), .object(let b)): return a === b
        case (.function(let a), .function(let b)): return a === b
        default: return false
        }
    }

    /// `$string` semantics: strings as they are, anything else as JSON with numbers to 15 significant digits.
    static func string(_ value: Value) throws(JSONataError) -> String {
        try string(value, pretty: false)
    }

    static func string(_ value: Value, pretty: Bool) throws(JSONataError) -> String {
        switch value {
        case .string(let text): return text
        case .function: return ""
        case .number(let number) where !number.isFinite:
            throw JSONataError(code: "D3001", message: "Attempting to invoke string function on Infinity or NaN")
        default:
            var unwrapped = value
            if case .array(let array) = value, array.outerWrapper, let first = array.items.first { unwrapped = first }
            var output = ""
            try write(unwrapped, to: &output, pretty: pretty, indent: 0)
            return output
        }
    }

    private static func write(_ value: Value, to output: inout String, pretty: Bool, indent: Int) throws(JSONataError) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let number):
            guard number.isFinite else { throw JSONataError(code: "D1001", message: "Number out of range: \(number)") }
            output += JSON.format(number: number.isIntegral ? number : roundTo15(number))
        case .string(let text): JSON.writeQuoted(text, to: &output)
        case .function: output += "\"\""
        case .array(let array):
            if array.items.isEmpty { output += "[]"; return }
            output += "["
            for (index, item) in array.items.enumerated() {
                if index > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                try write(item, to: &output, pretty: pretty, indent: indent + 1)
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "]"
        case .object(let object):
            if object.count == 0 { output += "{}"; return }
            output += "{"
            for (index, member) in object.members.enumerated() {
                if index > 0 { output += "," }
                if pretty { output += "\n" + String(repeating: "  ", count: indent + 1) }
                JSON.writeQuoted(member.key, to: &output)
                output += pretty ? ": " : ":"
                try write(member.value, to: &output, pretty: pretty, indent: indent + 1)
            }
            if pretty { output += "\n" + String(repeating: "  ", count: indent) }
            output += "}"
        }
    }

    /// `Number(x.toPrecision(15))`.
    static func roundTo15(_ number: Double) -> Double {
        guard number != 0, number.isFinite else { return number }
        return Double(fixedDecimal(number, places: 14, exponent: true)) ?? number
    }
}

extension Evaluator {
    /// Whether two strings are the same text for JavaScript: the same code points. Swift's `==` also takes canonically
    /// equivalent text for equal (a composed "é" and "e" with a combining accent), which jsonata-js does not.
    static func sameText(_ a: String, _ b: String) -> Bool {
        ExactKey.same(a, b)
    }

    /// Whether `a` comes before `b` in JavaScript's order of strings, UTF-16 code unit by code unit, found from their
    /// UTF-8 bytes without transcoding. UTF-8 orders text as its code points; UTF-16 orders it the same way except
    /// that a code point past U+FFFF (written with surrogates, D800-DFFF) comes before one from U+E000 to U+FFFF. At
    /// the first byte that differs, that is the case exactly when one byte leads such a code point (EE or EF) and the
    /// other a code point past U+FFFF (F0 to F4): a byte inside a code point differs only after equal leading bytes.
    static func precedesInUTF16(_ a: String, _ b: String) -> Bool {
        var left = a.utf8.makeIterator()
        var right = b.utf8.makeIterator()
        while true {
            guard let x = left.next() else { return right.next() != nil }
            guard let y = right.next() else { return false }
            if x == y { continue }
            let swapped = (x >= 0xF0 && (y == 0xEE || y == 0xEF)) || (y >= 0xF0 && (x == 0xEE || x == 0xEF))
            return swapped ? x > y : x < y
        }
    }
}
