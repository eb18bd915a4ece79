#include <stdio.h>
#include <string.h>
#include "http.h"

/* A tiny status server: answers every request with the same page. */
int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    return serve(port, "It works\n", strlen("It works\n"));
}
