import JSONValue

/// The keyword-by-keyword evaluation of draft 2020-12.
struct Evaluation {
    let registry: SchemaRegistry

    static let validationVocabulary = "https://json-schema.org/draft/2020-12/vocab/validation"
    static let validationKeywords: Set<String> = [
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
        "maxProperties", "minProperties", "required", "dependentRequired",
    ]

    /// The vocabularies a resource's `$schema` declares, when its metaschema is known and lists them.
    func vocabularies(for schema: JSON, current: Set<String>?) -> Set<String>? {
        guard case .string(let metaschemaURI)? = schema["$schema"],
            let metaschema = registry.resolve(SchemaURI.resolve(metaschemaURI, against: metaschemaURI)),
            case .object(let vocabulary)? = metaschema.schema["$vocabulary"]
        else { return current }
        return Set(vocabulary.keys)
    }

    /// Evaluates `schema` against `instance`. `entered` says the scope already has the schema's own `$id`
    /// applied (the root, or the target of a reference), so it is not applied twice.
    func evaluate(_ schema: JSON, _ instance: JSON, at location: JSONPointer, keywordLocation: JSONPointer,
                  scope: Scope, entered: Bool = false) -> Outcome
    {
        switch schema {
        case .bool(true):
            return Outcome()
        case .bool(false):
            return Outcome(errors: [ValidationError(instanceLocation: location, keywordLocation: keywordLocation,
                                                    kind: .falseSchema, schema: schema)])
        case .object(let object):
            return evaluate(object: object, schema, instance, at: location, keywordLocation: keywordLocation,
                            scope: scope, entered: entered)
        default:
            return Outcome()
        }
    }

    private func evaluate(object: JSONObject, _ schema: JSON, _ instance: JSON, at location: JSONPointer,
                          keywordLocation: JSONPointer, scope outerScope: Scope, entered: Bool) -> Outcome
    {
        var scope = outerScope
        if !entered, case .string(let id)? = object["$id"] {
            scope.baseURI = SchemaURI.resolve(id, against: scope.baseURI)
            if scope.dynamicScope.last != scope.baseURI { scope.dynamicScope.append(scope.baseURI) }
            scope.vocabularies = vocabularies(for: schema, current: scope.vocabularies)
        }
        var outcome = Outcome()
        let validating = scope.vocabularies.map { $0.contains(Self.validationVocabulary) } ?? true

        func fail(_ keyword: String, _ kind: ValidationError.Kind, _ instanceLocation: JSONPointer? = nil) {
            outcome.errors.append(Self.error(kind, keyword, schema, at: instanceLocation ?? location, keywordLocation))
        }

        // References.
        if case .string(let reference)? = object["$ref"] {
            outcome.absorb(follow(reference, dynamic: false, instance, at: location,
                                  keywordLocation: keywordLocation.appending("$ref"), scope: scope))
        }
        if case .string(let reference)? = object["$dynamicRef"] {
            outcome.absorb(follow(reference, dynamic: true, instance, at: location,
                                  keywordLocation: keywordLocation.appending("$dynamicRef"), scope: scope))
        }

        // Validation keywords that apply to any type.
        if validating {
            if let type = object["type"] {
                let expected = type.arrayValue?.compactMap(\.stringValue) ?? type.stringValue.map { [$0] } ?? []
                if !expected.contains(where: { Self.matches(type: $0, instance) }) {
                    fail("type", .type(expected: expected, actual: instance))
                }
            }
            if case .array(let allowed)? = object["enum"], !allowed.contains(instance) {
                fail("enum", .enumeration(allowed: allowed, actual: instance))
            }
            if let constant = object["const"], constant != instance {
                fail("const", .constant(expected: constant, actual: instance))
            }
        }

        // Composition.
        if case .array(let branches)? = object["allOf"] {
            for (position, branch) in branches.enumerated() {
                outcome.absorb(evaluate(branch, instance, at: location,
                                        keywordLocation: keywordLocation.appending("allOf").appending(position), scope: scope))
            }
        }
        if case .array(let branches)? = object["anyOf"] {
            var failures: [[ValidationError]] = []
            var matched = false
            for (position, branch) in branches.enumerated() {
                let result = evaluate(branch, instance, at: location,
                                      keywordLocation: keywordLocation.appending("anyOf").appending(position), scope: scope)
                if result.isValid {
                    matched = true
                    outcome.merge(annotationsOf: result)
                }
                failures.append(result.errors)
            }
            if !matched { fail("anyOf", .anyOf(branches: failures)) }
        }
        if case .array(let branches)? = object["oneOf"] {
            var failures: [[ValidationError]] = []
            var matched: [Int] = []
            for (position, branch) in branches.enumerated() {
                let result = evaluate(branch, instance, at: location,
                                      keywordLocation: keywordLocation.appending("oneOf").appending(position), scope: scope)
                if result.isValid {
                    matched.append(position)
                    outcome.merge(annotationsOf: result)
                }
                failures.append(result.errors)
            }
            if matched.count != 1 { fail("oneOf", .oneOf(branches: failures, matched: matched)) }
        }
        if let negated = object["not"] {
            let result = evaluate(negated, instance, at: location, keywordLocation: keywordLocation.appending("not"), scope: scope)
            if result.isValid { fail("not", .not) }
        }
        if let condition = object["if"] {
            let result = evaluate(condition, instance, at: location, keywordLocation: keywordLocation.appending("if"), scope: scope)
            if result.isValid {
                outcome.merge(annotationsOf: result)
                if let then = object["then"] {
                    outcome.absorb(evaluate(then, instance, at: location, keywordLocation: keywordLocation.appending("then"), scope: scope))
                }
            } else if let otherwise = object["else"] {
                outcome.absorb(evaluate(otherwise, instance, at: location, keywordLocation: keywordLocation.appending("else"), scope: scope))
            }
        }

        switch instance {
        case .number(let number) where validating:
            checkNumber(number, object) { fail($0, $1) }
        case .string(let string) where validating:
            checkString(string, object) { fail($0, $1) }
        case .array(let elements):
            evaluateArray(elements, object, schema, validating: validating, at: location, keywordLocation: keywordLocation,
                          scope: scope, outcome: &outcome)
        case .object(let members):
            evaluateObject(members, object, schema, validating: validating, at: location, keywordLocation: keywordLocation,
                           scope: scope, outcome: &outcome)
        default:
            break
        }
        return outcome
    }

    /// The error `keyword` of `schema` reports about the instance at `location`.
    static func error(_ kind: ValidationError.Kind, _ keyword: String, _ schema: JSON, at location: JSONPointer,
                      _ keywordLocation: JSONPointer) -> ValidationError
    {
        ValidationError(instanceLocation: location, keywordLocation: keywordLocation.appending(keyword), kind: kind, schema: schema)
    }

    static func matches(type: String, _ instance: JSON) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string),
            ("array", .array), ("object", .object):
            return true
        case ("integer", .number(let value)):
            return value.isIntegral
        default:
            return false
        }
    }

    private func checkNumber(_ number: Double, _ object: JSONObject,
                             fail: (String, ValidationError.Kind) -> Void)
    {
        if let limit = object["minimum"]?.numberValue, number < limit {
            fail("minimum", .minimum(limit: limit, exclusive: false, actual: number))
        }
        if let limit = object["exclusiveMinimum"]?.numberValue, number <= limit {
            fail("exclusiveMinimum", .minimum(limit: limit, exclusive: true, actual: number))
        }
        if let limit = object["maximum"]?.numberValue, number > limit {
            fail("maximum", .maximum(limit: limit, exclusive: false, actual: number))
        }
        if let limit = object["exclusiveMaximum"]?.numberValue, number >= limit {
            fail("exclusiveMaximum", .maximum(limit: limit, exclusive: true, actual: number))
        }
        if let divisor = object["multipleOf"]?.numberValue, divisor > 0 {
            let quotient = number / divisor
            let isMultiple = quotient.isFinite && abs(quotient - quotient.rounded()) < 1e-9 * max(1, abs(quotient))
            if !isMultiple { fail("multipleOf", .multipleOf(divisor: divisor, actual: number)) }
        }
    }

    private func checkString(_ string: String, _ object: JSONObject,
                             fail: (String, ValidationError.Kind) -> Void)
    {
        let length = string.unicodeScalars.count
        if let limit = object["minLength"]?.intValue, length < limit {
            fail("minLength", .minLength(limit: limit, actual: string))
        }
        if let limit = object["maxLength"]?.intValue, length > limit {
            fail("maxLength", .maxLength(limit: limit, actual: string))
        }
        if case .string(let pattern)? = object["pattern"], !matches(pattern, string) {
            fail("pattern", .pattern(pattern, actual: string))
        }
    }

    private func matches(_ pattern: String, _ string: String) -> Bool {
        (registry.patterns[pattern] ?? CompiledPattern(pattern))?.matches(string) ?? false
    }

    private func evaluateArray(_ elements: [JSON], _ object: JSONObject, _ schema: JSON, validating: Bool, at location: JSONPointer,
                               keywordLocation: JSONPointer, scope: Scope, outcome: inout Outcome)
    {
        func fail(_ keyword: String, _ kind: ValidationError.Kind, _ instanceLocation: JSONPointer? = nil) {
            outcome.errors.append(Self.error(kind, keyword, schema, at: instanceLocation ?? location, keywordLocation))
        }
        if validating {
            if let limit = object["minItems"]?.intValue, elements.count < limit {
                fail("minItems", .minItems(limit: limit, actual: elements.count))
            }
            if let limit = object["maxItems"]?.intValue, elements.count > limit {
                fail("maxItems", .maxItems(limit: limit, actual: elements.count))
            }
            if object["uniqueItems"]?.boolValue == true {
                search: for second in elements.indices {
                    for first in 0..<second where elements[first] == elements[second] {
                        fail("uniqueItems", .uniqueItems(firstDuplicate: first, secondDuplicate: second))
                        break search
                    }
                }
            }
        }
        var prefixCount = 0
        if case .array(let prefix)? = object["prefixItems"] {
            prefixCount = min(prefix.count, elements.count)
            for index in 0..<prefixCount {
                outcome.errors += (evaluate(prefix[index], elements[index], at: location.appending(index),
                                        keywordLocation: keywordLocation.appending("prefixItems").appending(index), scope: scope)).errors
                outcome.evaluatedItems.insert(index)
            }
        }
        if let items = object["items"], prefixCount < elements.count {
            for index in prefixCount..<elements.count {
                if items == .bool(false) {
                    fail("items", .unexpectedItem(index: index), location.appending(index))
                } else {
                    outcome.errors += (evaluate(items, elements[index], at: location.appending(index),
                                            keywordLocation: keywordLocation.appending("items"), scope: scope)).errors
                }
                outcome.evaluatedItems.insert(index)
            }
        }
        if let contains = object["contains"] {
            var matched = 0
            for (index, element) in elements.enumerated() {
                let result = evaluate(contains, element, at: location.appending(index),
                                      keywordLocation: keywordLocation.appending("contains"), scope: scope)
                if result.isValid {
                    matched += 1
                    outcome.evaluatedItems.insert(index)
                }
            }
            let minimum = validating ? (object["minContains"]?.intValue ?? 1) : 1
            let maximum = validating ? object["maxContains"]?.intValue : nil
            if matched < minimum || (maximum.map { matched > $0 } ?? false) {
                fail("contains", .contains(minimum: minimum, maximum: maximum, matched: matched))
            }
        }
        if let unevaluated = object["unevaluatedItems"] {
            for index in elements.indices where !outcome.evaluatedItems.contains(index) {
                if unevaluated == .bool(false) {
                    fail("unevaluatedItems", .unexpectedItem(index: index), location.appending(index))
                } else {
                    outcome.errors += evaluate(unevaluated, elements[index], at: location.appending(index),
                                               keywordLocation: keywordLocation.appending("unevaluatedItems"), scope: scope).errors
                }
            }
            outcome.evaluatedItems.formUnion(elements.indices)
        }
    }

    private func evaluateObject(_ members: JSONObject, _ object: JSONObject, _ schema: JSON, validating: Bool, at location: JSONPointer,
                                keywordLocation: JSONPointer, scope: Scope, outcome: inout Outcome)
    {
        func fail(_ keyword: String, _ kind: ValidationError.Kind, _ instanceLocation: JSONPointer? = nil) {
            outcome.errors.append(Self.error(kind, keyword, schema, at: instanceLocation ?? location, keywordLocation))
        }
        if validating {
            if case .array(let required)? = object["required"] {
                for case .string(let name) in required where members[name] == nil {
                    fail("required", .required(missing: name))
                }
            }
            if let limit = object["minProperties"]?.intValue, members.count < limit {
                fail("minProperties", .minProperties(limit: limit, actual: members.count))
            }
            if let limit = object["maxProperties"]?.intValue, members.count > limit {
                fail("maxProperties", .maxProperties(limit: limit, actual: members.count))
            }
            if case .object(let dependencies)? = object["dependentRequired"] {
                for (property, needs) in dependencies where members[property] != nil {
                    for case .string(let name) in needs.arrayValue ?? [] where members[name] == nil {
                        fail("dependentRequired", .dependentRequired(property: property, missing: name))
                    }
                }
            }
        }
        var matchedByProperties: Set<String> = []
        if case .object(let properties)? = object["properties"] {
            for (name, value) in members {
                guard let subschema = properties[name] else { continue }
                matchedByProperties.insert(name)
                outcome.errors += (evaluate(subschema, value, at: location.appending(name),
                                        keywordLocation: keywordLocation.appending("properties").appending(name), scope: scope)).errors
                outcome.evaluatedProperties.insert(name)
            }
        }
        if case .object(let patternProperties)? = object["patternProperties"] {
            for (pattern, subschema) in patternProperties {
                for (name, value) in members where matches(pattern, name) {
                    matchedByProperties.insert(name)
                    outcome.errors += (evaluate(subschema, value, at: location.appending(name),
                                            keywordLocation: keywordLocation.appending("patternProperties").appending(pattern), scope: scope)).errors
                    outcome.evaluatedProperties.insert(name)
                }
            }
        }
        if let additional = object["additionalProperties"] {
            for (name, value) in members where !matchedByProperties.contains(name) {
                if additional == .bool(false) {
                    fail("additionalProperties",
                         .unexpectedProperty(name: name, known: object["properties"]?.objectValue?.keys ?? []),
                         location.appending(name))
                } else {
                    outcome.errors += (evaluate(additional, value, at: location.appending(name),
                                            keywordLocation: keywordLocation.appending("additionalProperties"), scope: scope)).errors
                }
                outcome.evaluatedProperties.insert(name)
            }
        }
        if let names = object["propertyNames"] {
            for (name, _) in members {
                let result = evaluate(names, .string(name), at: location.appending(name),
                                      keywordLocation: keywordLocation.appending("propertyNames"), scope: scope)
                if !result.isValid {
                    fail("propertyNames", .propertyName(name: name, causes: result.errors), location.appending(name))
                }
            }
        }
        if case .object(let dependentSchemas)? = object["dependentSchemas"] {
            for (property, subschema) in dependentSchemas where members[property] != nil {
                outcome.absorb(evaluate(subschema, .object(members), at: location,
                                        keywordLocation: keywordLocation.appending("dependentSchemas").appending(property), scope: scope))
            }
        }
        if let unevaluated = object["unevaluatedProperties"] {
            for (name, value) in members where !outcome.evaluatedProperties.contains(name) {
                if unevaluated == .bool(false) {
                    fail("unevaluatedProperties",
                         .unexpectedProperty(name: name, known: object["properties"]?.objectValue?.keys ?? []),
                         location.appending(name))
                } else {
                    outcome.errors += evaluate(unevaluated, value, at: location.appending(name),
                                               keywordLocation: keywordLocation.appending("unevaluatedProperties"), scope: scope).errors
                }
            }
            outcome.evaluatedProperties.formUnion(members.keys)
        }
    }

    private func follow(_ reference: String, dynamic: Bool, _ instance: JSON, at location: JSONPointer,
                        keywordLocation: JSONPointer, scope: Scope) -> Outcome
    {
        func failure(_ kind: ValidationError.Kind) -> Outcome {
            Outcome(errors: [ValidationError(instanceLocation: location, keywordLocation: keywordLocation,
                                             kind: kind, schema: .null)])
        }
        guard scope.depth < JSONSchemaValidator.maximumReferenceDepth else { return failure(.recursionLimit) }
        let absolute = SchemaURI.resolve(reference, against: scope.baseURI)
        guard var target = registry.resolve(absolute) else { return failure(.unresolvableReference(reference)) }
        if dynamic {
            let (uri, fragment) = SchemaURI.split(absolute)
            if !fragment.isEmpty, !fragment.hasPrefix("/"), registry.dynamicAnchor(fragment, in: uri) != nil,
                let outermost = scope.dynamicScope.lazy.compactMap({ registry.dynamicAnchor(fragment, in: $0) }).first
            {
                target = outermost
            }
        }
        var inner = scope
        inner.baseURI = target.baseURI
        inner.depth += 1
        if inner.dynamicScope.last != target.baseURI { inner.dynamicScope.append(target.baseURI) }
        if registry.resources[target.baseURI].map({ $0 == target.schema }) ?? false {
            inner.vocabularies = vocabularies(for: target.schema, current: scope.vocabularies)
        }
        return evaluate(target.schema, instance, at: location, keywordLocation: keywordLocation, scope: inner, entered: true)
    }
}
