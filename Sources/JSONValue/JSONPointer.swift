import Foundation

/// A JSON Pointer (RFC 6901): the path of a value inside a document, such as `/targets/hubspot/retry`.
public struct JSONPointer: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The reference tokens, unescaped.
    public var tokens: [String]

    /// The pointer to the whole document.
    public static let root = JSONPointer(tokens: [])

    public init(tokens: [String]) {
        self.tokens = tokens
    }

    /// Parses the string form (`/a/b~1c`); `nil` if it does not start with `/` and is not empty.
    public init?(_ text: String) {
        if text.isEmpty { self.init(tokens: []); return }
        guard text.hasPrefix("/") else { return nil }
        self.init(tokens: text.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.contains("~") ? $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") : String($0)
        })
    }

    /// This pointer extended by one token.
    public func appending(_ token: String) -> JSONPointer {
        JSONPointer(tokens: tokens + [token])
    }

    /// This pointer extended by an array index.
    public func appending(_ index: Int) -> JSONPointer {
        appending(String(index))
    }

    /// The value this pointer names in `document`, if there is one.
    public func resolve(in document: JSON) -> JSON? {
        var current = document
        for token in tokens {
            switch current {
            case .object(let object):
                guard let member = object[token] else { return nil }
                current = member
            case .array(let array):
                guard let index = Int(token), array.indices.contains(index) else { return nil }
                current = array[index]
            default:
                return nil
            }
        }
        return current
    }

    /// `document` with the value at this pointer set to `value`: missing objects on the way are created; `nil` when
    /// the way passes through a value that is not an object (or an array with that index).
    public func setting(_ value: JSON, in document: JSON) -> JSON? {
        guard let first = tokens.first else { return value }
        let rest = JSONPointer(tokens: Array(tokens.dropFirst()))
        switch document {
        case .object(var object):
            guard let member = rest.setting(value, in: object[first] ?? .object(JSONObject())) else { return nil }
            object[first] = member
            return .object(object)
        case .array(var array):
            guard let index = Int(first), array.indices.contains(index),
                  let member = rest.setting(value, in: array[index]) else { return nil }
            array[index] = member
            return .array(array)
        default:
            return nil
        }
    }

    /// The pointer one level up; the root is its own parent.
    public var parent: JSONPointer {
        JSONPointer(tokens: Array(tokens.dropLast()))
    }

    /// Whether `self` equals `other` or lies inside it.
    public func hasPrefix(_ other: JSONPointer) -> Bool {
        tokens.starts(with: other.tokens)
    }

    public var description: String {
        tokens.map { "/" + $0.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1") }.joined()
    }

    /// A dotted path for people: `targets.hubspot.retry.max_attempts`, `routes[0].call`.
    public var dotted: String {
        var text = ""
        for token in tokens {
            if let _ = Int(token) {
                text += "[\(token)]"
            } else {
                text += text.isEmpty ? token : "." + token
            }
        }
        return text.isEmpty ? "(document)" : text
    }

    public static func < (lhs: JSONPointer, rhs: JSONPointer) -> Bool {
        lhs.tokens.lexicographicallyPrecedes(rhs.tokens)
    }
}

extension JSON {
    /// The value at `pointer`, or `nil` if there is none.
    public subscript(pointer pointer: JSONPointer) -> JSON? {
        var current = self
        for token in pointer.tokens {
            switch current {
            case .object(let object):
                guard let next = object[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), token == String(index), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }
}
