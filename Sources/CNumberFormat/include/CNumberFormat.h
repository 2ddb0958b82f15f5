#ifndef CNUMBERFORMAT_H
#define CNUMBERFORMAT_H
#include <stddef.h>

/// Writes `value` as C's printf writes it with `%.*f` (or `%.*e` when `exponent` is non-zero) into `buffer`; returns
/// what snprintf returns (the length the whole text needs). Called from Swift without building a va_list, whose
/// dynamic casts cost more than the printing.
int cnumberformat_print(char *buffer, size_t size, double value, int places, int exponent);

#endif
