#include "CNumberFormat.h"
#include <stdio.h>

int cnumberformat_print(char *buffer, size_t size, double value, int places, int exponent) {
    return snprintf(buffer, size, exponent ? "%.*e" : "%.*f", places, value);
}
