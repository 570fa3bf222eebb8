/* placeholder: being written */
#include "postgres.h"
#include "defender_fdw.h"
