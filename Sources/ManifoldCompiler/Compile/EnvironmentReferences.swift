import JSONValue

/// Finds the `${env:NAME}` references of a document, with where they stand.
enum EnvironmentReferences {
    struct Reference {
        var name: String
        var pointer: JSONPointer
    }

    static func find(in document: LocatedDocument) -> [Reference] {
        var references: [Reference] = []
        func walk(_ value: JSON, _ pointer: JSONPointer) {
            switch value {
            case .string(let text) where text.contains("${env:"):
                let pieces = (try? StringSyntax.pieces(of: text, expressions: false)) ?? []
                for case .environment(let name) in pieces {
                    references.append(Reference(name: name, pointer: pointer))
                }
            case .array(let elements):
                for (index, element) in elements.enumerated() { walk(element, pointer.appending(index)) }
            case .object(let object):
                for (key, member) in object { walk(member, pointer.appending(key)) }
            default:
                break
            }
        }
        walk(document.value, .root)
        return references
    }
}
