/*
 * notbrought schemas: the registered Avro schemas.
 */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nb__cmd_schemas(int argc, char **argv)
{
    if (nb__wants_help(argc, argv)) {
        printf("usage: notbrought schemas [ID]\n\nLists the schema ids of the built-in registry "
               "(schemas/registry.tsv),\nor prints the schema with the given id.\n");
        return NB_EXIT_OK;
    }
    nb_registry_t *reg;
    nb_codec_t *codec;
    if (argc > 2)
        return NB_EXIT_USAGE;
    if (nb__cli_codec(&reg, &codec))
        return NB_EXIT_SOFTWARE;
    int rc = NB_EXIT_OK;
    if (argc == 2) {
        const char *json = nb_registry_schema_json(reg, (int32_t)atoi(argv[1]));
        if (json)
            fputs(json, stdout);
        else {
            fprintf(stderr, "notbrought schemas: no schema with id '%s'\n", argv[1]);
            rc = NB_EXIT_FAILURE;
        }
    } else {
        for (int t = NB_RECORD_NONE + 1; t < NB_RECORD__COUNT; t++)
            printf("%d\t%s\n", (int)nb_registry_reader_id(reg, (nb_record_type_t)t),
                   nb_record_type_name((nb_record_type_t)t));
    }
    nb__cli_codec_free(reg, codec);
    return rc;
}
