/*
 * notbrought - util: the functions of the error table (notbrought/err.h).
 */
#include "notbrought/err.h"

#include <stddef.h>
#include <string.h>

#define NB__ERR_NAME(sym, code, desc) code,
#define NB__ERR_DESC(sym, code, desc) desc,
static const char *const nb__err_names[] = {NB_ERR_MAP(NB__ERR_NAME)};
static const char *const nb__err_descs[] = {NB_ERR_MAP(NB__ERR_DESC)};

const char *nb_err_name(nb_err_t err)
{
    if ((int)err < 0 || err >= NB_ERR__COUNT)
        return "unknown";
    return nb__err_names[err];
}

const char *nb_err_str(nb_err_t err)
{
    if ((int)err < 0 || err >= NB_ERR__COUNT)
        return "unknown error";
    return nb__err_descs[err];
}

nb_err_t nb_err_from_name(const char *name)
{
    for (int i = 0; name && i < NB_ERR__COUNT; i++)
        if (strcmp(name, nb__err_names[i]) == 0)
            return (nb_err_t)i;
    return NB_ERR__COUNT;
}
