public import Crypto
import Foundation

/// The public-key algorithms of the signature schemes that verify with a vendor's public key.
public enum KeyAlgorithm: String, Sendable, Hashable {
    case ed25519
    case ecdsaP256 = "ecdsa-p256"
}

extension SignatureScheme {
    /// The public-key algorithm of a scheme that verifies with one.
    public var keyAlgorithm: KeyAlgorithm? {
        switch self {
        case .discord, .ed25519: .ed25519
        case .sendgrid, .ecdsaP256: .ecdsaP256
        default: nil
        }
    }
}

/// Why a key given as text could not be read. Never holds the key itself.
public struct KeyError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A vendor's public key, which verifies its signatures.
public enum VerifyingKey: Sendable {
    case ed25519(Curve25519.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)

    /// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32 bytes of the key.
    static let ed25519SPKIPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// Reads a key as vendors hand it out: PEM, or base64 or hex of its DER (SubjectPublicKeyInfo) or raw bytes —
    /// Discord gives hex of the raw Ed25519 key, SendGrid base64 of the P-256 key's DER.
    public init(_ text: String, algorithm: KeyAlgorithm) throws(KeyError) {
        let bytes = try KeyText.bytes(text, pemLabel: "PUBLIC KEY")
        switch algorithm {
        case .ed25519:
            let raw = bytes.count == 44 && Array(bytes.prefix(12)) == Self.ed25519SPKIPrefix ? Array(bytes.suffix(32)) : bytes
            guard raw.count == 32, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
                throw KeyError("not an Ed25519 public key (expected 32 bytes in hex or base64, or a PEM or DER public key; got \(bytes.count) bytes)")
            }
            self = .ed25519(key)
        case .ecdsaP256:
            if let key = try? P256.Signing.PublicKey(derRepresentation: bytes) { self = .p256(key); return }
            if let key = try? P256.Signing.PublicKey(x963Representation: bytes) { self = .p256(key); return }
            if let key = try? P256.Signing.PublicKey(compressedRepresentation: bytes) { self = .p256(key); return }
            if let key = try? P256.Signing.PublicKey(rawRepresentation: bytes) { self = .p256(key); return }
            throw KeyError("not a P-256 public key (expected a PEM or base64 DER public key, or its X9.63 bytes; got \(bytes.count) bytes)")
        }
    }

    /// Whether `signature` (Ed25519: 64 bytes; ECDSA: DER or the 64 bytes of r and s) signs `message`.
    public func isValid(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch self {
        case .ed25519(let key):
            return key.isValidSignature(signature, for: message)
        case .p256(let key):
            if let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) {
                return key.isValidSignature(parsed, for: SHA256.hash(data: message))
            }
            if signature.count == 64, let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) {
                return key.isValidSignature(parsed, for: SHA256.hash(data: message))
            }
            return false
        }
    }

    /// The key as PEM (P-256) or hex of its raw bytes (Ed25519, as Discord shows it).
    public var text: String {
        switch self {
        case .ed25519(let key): Hex.encode(Array(key.rawRepresentation))
        case .p256(let key): key.pemRepresentation
        }
    }

    /// The key as base64 of its DER, as SendGrid shows it (P-256), or hex (Ed25519).
    public var compactText: String {
        switch self {
        case .ed25519(let key): Hex.encode(Array(key.rawRepresentation))
        case .p256(let key): key.derRepresentation.base64EncodedString()
        }
    }
}

/// A private key that signs as a vendor would: for `manifold test` (a key pair made for the run), `manifold send`
/// (`--signing-key`), and the tests.
public enum SigningKey: Sendable {
    case ed25519(Curve25519.Signing.PrivateKey)
    case p256(P256.Signing.PrivateKey)

    /// A new key pair.
    public static func generate(_ algorithm: KeyAlgorithm) -> SigningKey {
        switch algorithm {
        case .ed25519: .ed25519(Curve25519.Signing.PrivateKey())
        case .ecdsaP256: .p256(P256.Signing.PrivateKey())
        }
    }

    /// Reads a private key: PEM (PKCS #8 or SEC 1), or base64 or hex of its DER or raw 32 bytes.
    public init(_ text: String, algorithm: KeyAlgorithm) throws(KeyError) {
        switch algorithm {
        case .ed25519:
            let bytes = try KeyText.bytes(text, pemLabel: "PRIVATE KEY")
            // PKCS #8 of an Ed25519 key (RFC 8410): 16 bytes of header, then the 32-byte seed.
            let seed = bytes.count == 48 ? Array(bytes.suffix(32)) : bytes
            guard seed.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed) else {
                throw KeyError("not an Ed25519 private key (expected its 32 bytes in hex or base64, or PKCS #8)")
            }
            self = .ed25519(key)
        case .ecdsaP256:
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("-----BEGIN"), let key = try? P256.Signing.PrivateKey(pemRepresentation: trimmed) {
                self = .p256(key)
                return
            }
            let bytes = try KeyText.bytes(text, pemLabel: "PRIVATE KEY")
            if let key = try? P256.Signing.PrivateKey(derRepresentation: bytes) { self = .p256(key); return }
            if let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes) { self = .p256(key); return }
            throw KeyError("not a P-256 private key (expected PEM, or base64 of its DER)")
        }
    }

    public var algorithm: KeyAlgorithm {
        switch self {
        case .ed25519: .ed25519
        case .p256: .ecdsaP256
        }
    }

    public var verifyingKey: VerifyingKey {
        switch self {
        case .ed25519(let key): .ed25519(key.publicKey)
        case .p256(let key): .p256(key.publicKey)
        }
    }

    /// The signature of `message`: Ed25519's 64 bytes, or ECDSA's DER (as SendGrid sends it).
    public func signature(for message: [UInt8]) -> [UInt8] {
        switch self {
        case .ed25519(let key): Array((try? key.signature(for: message)) ?? Data())
        case .p256(let key): Array((try? key.signature(for: SHA256.hash(data: message)).derRepresentation) ?? Data())
        }
    }

    /// The key as PEM (P-256, PKCS #8) or hex of its 32 bytes (Ed25519).
    public var text: String {
        switch self {
        case .ed25519(let key): Hex.encode(Array(key.rawRepresentation))
        case .p256(let key): key.pemRepresentation
        }
    }
}

/// Keys written as text: PEM, base64 or hex.
enum KeyText {
    static func bytes(_ text: String, pemLabel: String) throws(KeyError) -> [UInt8] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw KeyError("the key is empty") }
        var body = trimmed
        if trimmed.hasPrefix("-----BEGIN") {
            body = trimmed.split(whereSeparator: \.isNewline).filter { !$0.hasPrefix("-----") }.joined()
            guard let data = Data(base64Encoded: body) else { throw KeyError("the PEM key's body is not base64") }
            return Array(data)
        }
        body = body.filter { !$0.isWhitespace }
        if body.count.isMultiple(of: 2), body.allSatisfy(\.isHexDigit), let bytes = Hex.decode(body) { return bytes }
        var padded = body.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while !padded.count.isMultiple(of: 4) { padded += "=" }
        guard let data = Data(base64Encoded: padded) else { throw KeyError("the key is neither PEM, hex nor base64") }
        return Array(data)
    }
}
