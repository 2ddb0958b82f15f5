extension Library {
    static func defineFormatting(_ define: Define) {}
    static func defineDates(_ define: Define) {}
}
