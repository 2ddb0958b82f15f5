@testable import ManifoldPostgres
import ManifoldStore
import Testing

/// `--store postgres://…` as an operator writes it: what is read, what is refused, and that the password never shows.
@Suite struct PostgresAddressTests {
    @Test func readsTheAddressAndNeverShowsThePassword() throws {
        let address = try PostgresAddress(url: "postgresql://ops:p%40ss@db.internal:6543/manifold?sslmode=require")
        #expect(address.host == "db.internal" && address.port == 6543 && address.user == "ops")
        #expect(address.password == "p@ss" && address.database == "manifold")
        #expect(address.description == "db.internal:6543/manifold")
        let defaults = try PostgresAddress(url: "postgres://db.internal")
        #expect(defaults.port == 5432 && defaults.user == "postgres" && defaults.database == nil)
        #expect(defaults.description == "db.internal:5432/postgres")
    }

    @Test func refusesWhatItCannotUseSayingWhy() {
        #expect(throws: StoreError.self) { try PostgresAddress(url: "mysql://db/x") }
        #expect(throws: StoreError.self) { try PostgresAddress(url: "manifold.db") }
        do {
            _ = try PostgresAddress(url: "postgres://u:secret@db/x?sslmode=sometimes")
            Issue.record("an unknown sslmode was taken")
        } catch {
            #expect("\(error)" == "sslmode=sometimes in the store address is not one of disable, prefer, require")
        }
    }
}
