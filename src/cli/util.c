/*
 * notbrought - cli: helpers shared by the commands.
 */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int nb__cli_codec(nb_registry_t **reg, nb_codec_t **codec)
{
    return nb__cli_codec_dir(NULL, reg, codec);
}

int nb__cli_codec_dir(const char *dir, nb_registry_t **reg, nb_codec_t **codec)
{
    char errstr[512] = "";
    *codec = NULL;
    *reg = nb_registry_new();
    if (!*reg || nb_registry_add_builtin(*reg, errstr, sizeof(errstr)) ||
        (dir && nb_registry_load_dir(*reg, dir, errstr, sizeof(errstr))) ||
        !(*codec = nb_codec_new(*reg, errstr, sizeof(errstr)))) {
        fprintf(stderr, "notbrought: schema registry: %s\n", errstr[0] ? errstr : "no memory");
        nb_registry_destroy(*reg);
        *reg = NULL;
        return -1;
    }
    return 0;
}

void nb__cli_codec_free(nb_registry_t *reg, nb_codec_t *codec)
{
    nb_codec_destroy(codec);
    nb_registry_destroy(reg);
}

int64_t nb__cli_now(void)
{
    const char *fixed = getenv("NB_NOW");
    int64_t ms;
    if (fixed && nb_parse_time(fixed, &ms))
        return ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
