/*
 * notbrought - entry point. Everything lives in the library; see src/cli/.
 */
#include "notbrought/cli.h"

int main(int argc, char **argv)
{
    return nb_cli_main(argc, argv);
}
