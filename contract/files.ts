/**
 * The files a learner saves from the YAML editor for a lab's terminals
 * (`~/files/<name>`): what a name may be and how many and how big. Apart
 * from the API's contract (api.ts) so the page's editor reads the same rule
 * without bringing the contract's schemas along.
 */

/** A YAML file's name, lower-case: letters, digits, dots, dashes or underscores, ending in .yaml or .yml (at most 64). */
export const FILE_NAME = /^[a-z0-9][a-z0-9._-]{0,59}\.ya?ml$/;
/** At most this much per file (as the validation takes at once: the API reads bodies of 16 KiB at most). */
export const MAX_FILE_BYTES = 12 * 1024;
/** Files one lab may hold for a session, and one session across its labs (so a room cannot fill the server's disk). */
export const MAX_FILES = 20;
export const MAX_SESSION_FILES = 40;
