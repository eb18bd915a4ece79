#include <stddef.h>
#include <stdlib.h>

int serve(int port, const char *body, size_t length);
