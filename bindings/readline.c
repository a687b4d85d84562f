/***
GNU readline and Ctrl-C handling for the REPL (lua/gan/repl.lua), as the table
gan.core.readline.
@module gan.core.readline
*/
// gan.core.readline: GNU readline and Ctrl-C handling for the REPL.
//
// Only gl_register_readline is global: it sets the table gan.core.readline.
// Signal handling follows lua.c: SIGINT while Lua code runs sets a hook that raises
// "interrupted!" at the next instruction, so the chunk stops but the REPL goes on.

// sigaction, fileno, strdup: POSIX, not plain C11.
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "bindings.h"

// Most history entries kept (and written to the history file).
#define HISTORY_MAX 1000

// Registry key of the Lua completer function (the address is the key).
static const char completer_key = 0;

// The state running readline(), for the completion callback.
static lua_State *readline_L = NULL;

// The state running pcall_interruptible(), for the SIGINT handler.
static lua_State *interrupt_L = NULL;

// Set by the SIGINT handler while readline() waits for input.
static volatile sig_atomic_t prompt_interrupted = 0;

// Set when the current line was ended by Ctrl-C, so l_readline can discard it.
static int line_interrupted = 0;

// ---- readline

static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_interrupted = 1;
}

// Like rl_getc, but a Ctrl-C ends the line. rl_getc itself retries reads interrupted by
// SIGINT forever, so readline() would never return and the line could not be abandoned.
static int getc_interruptible(FILE *stream) {
    for (;;) {
        // readline's own SIGINT handler only records the signal; this resets the terminal
        // and passes the signal on to on_prompt_sigint.
        rl_check_signals();
        if (prompt_interrupted) {
            // Accept the line so readline() returns; l_readline then throws it away.
            prompt_interrupted = 0;
            line_interrupted = 1;
            return '\n';
        }
        unsigned char c;
        ssize_t n = read(fileno(stream), &c, 1);
        if (n == 1) return c;
        if (n == 0) return EOF;
        if (errno != EINTR) return EOF;
    }
}

// The matches prepared for one completion, handed out by match_generator.
static char **pending_matches = NULL;
static size_t pending_count = 0, pending_next = 0;

static void free_pending_matches(void) {
    for (size_t i = pending_next; i < pending_count; i++) free(pending_matches[i]);
    free(pending_matches);
    pending_matches = NULL;
    pending_count = pending_next = 0;
}

static char *match_generator(const char *text, int state) {
    (void)text;
    (void)state;
    if (pending_next < pending_count) return pending_matches[pending_next++];  // readline frees it
    return NULL;
}

// Calls the Lua completer: fn(word, line_before_cursor) -> list of strings.
// Runs inside readline(), so Lua errors must not escape: lua_pcall catches them.
static int call_completer(lua_State *L) {
    const char *text = lua_touserdata(L, 1);
    lua_Integer end = lua_tointeger(L, 2);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &completer_key);
    if (!lua_isfunction(L, -1)) return 0;
    lua_pushstring(L, text);
    lua_pushlstring(L, rl_line_buffer, (size_t)end);
    lua_call(L, 2, 1);
    if (!lua_istable(L, -1)) return 0;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    pending_matches = calloc((size_t)n + 1, sizeof(char *));
    if (!pending_matches) return 0;
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
            char *s = strdup(lua_tostring(L, -1));
            if (s) pending_matches[pending_count++] = s;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static char **attempted_completion(const char *text, int start, int end) {
    (void)start;
    rl_attempted_completion_over = 1;  // never fall back to file names
    rl_completion_suppress_append = 1;  // `x:tra` -> `x:transpose`, no space after
    lua_State *L = readline_L;
    if (!L || !lua_checkstack(L, 8)) return NULL;
    free_pending_matches();
    // Nothing here may raise outside lua_pcall (a longjmp through readline would wreck
    // it): no allocation, so the word goes in as a light userdata.
    lua_pushcfunction(L, call_completer);
    lua_pushlightuserdata(L, (void *)text);
    lua_pushinteger(L, end);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {  // a broken completer completes nothing
        lua_pop(L, 1);
        free_pending_matches();
    }
    char **matches = pending_count ? rl_completion_matches(text, match_generator) : NULL;
    free_pending_matches();
    return matches;
}

static void setup_readline(void) {
    static int done = 0;
    if (done) return;
    done = 1;
    rl_readline_name = "gan";  // for `$if gan` in ~/.inputrc
    // Lua expressions: `x:tra` and `string.fo` are single words; operators and brackets split.
    rl_completer_word_break_characters = " \t\n\"'`()[]{},;=+-*/%^#<>~&|!\\";
    rl_attempted_completion_function = attempted_completion;
    rl_getc_function = getc_interruptible;
    stifle_history(HISTORY_MAX);
}

/*** Reads a line with editing, history and tab completion (the completer set_completer set).
@function readline
@tparam[opt=""] string prompt
@treturn string|nil the line; nil at end of input
@treturn[opt] string "interrupted" when Ctrl-C ended the line (the first result nil)
*/
static int l_readline(lua_State *L) {
    const char *prompt = luaL_optstring(L, 1, "");
    setup_readline();

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    prompt_interrupted = 0;
    line_interrupted = 0;

    lua_State *outer = readline_L;
    readline_L = L;
    // Kept in a static until pushed: if lua_pushstring raises (out of memory), the next
    // call frees it instead of leaking it.
    static char *line = NULL;
    free(line);
    line = NULL;
    char *got = readline(prompt);
    free(line);  // only set if a completer called readline() itself
    line = got;
    readline_L = outer;
    sigaction(SIGINT, &old, NULL);

    if (line_interrupted) {
        free(line);
        line = NULL;
        luaL_pushfail(L);
        lua_pushliteral(L, "interrupted");
        return 2;
    }
    if (!line) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushstring(L, line);
    free(line);
    line = NULL;
    return 1;
}

/*** Appends a line to the history (the last 1000 lines are kept).
@function add_history
@tparam string line
*/
static int l_add_history(lua_State *L) {
    const char *line = luaL_checkstring(L, 1);
    setup_readline();
    add_history(line);
    return 0;
}

static int history_result(lua_State *L, int err, const char *path) {
    if (err == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    return 2;
}

/*** Loads the history from a file.
@function read_history
@tparam string path
@treturn boolean|nil true, or nil on failure
@treturn[opt] string on failure, "path: reason"
*/
static int l_read_history(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    setup_readline();
    return history_result(L, read_history(path), path);
}

/*** Saves the history to a file.
@function write_history
@tparam string path
@treturn boolean|nil true, or nil on failure
@treturn[opt] string on failure, "path: reason"
*/
static int l_write_history(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    return history_result(L, write_history(path), path);
}

/*** Sets the tab-completion function (nil removes it). It is called with the word at the
cursor and the line up to the cursor, and returns a list of full completions of the word;
its errors are ignored (nothing is completed).
@function set_completer
@tparam function|nil fn fn(word, line_before_cursor) -> {string,...}
*/
static int l_set_completer(lua_State *L) {
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &completer_key);
    return 0;
}

/*** Whether file descriptor fd is a terminal.
@function isatty
@tparam int fd 0 for standard input, 1 for standard output
@treturn boolean
*/
static int l_isatty(lua_State *L) {
    lua_Integer fd = luaL_checkinteger(L, 1);
    lua_pushboolean(L, fd >= 0 && fd <= 1 << 30 && isatty((int)fd));
    return 1;
}

// ---- pcall_interruptible

// Hook set by the SIGINT handler: raise the error from inside the running Lua code.
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_run_sigint(int sig) {
    // A second Ctrl-C (e.g. stuck in a long C call that never reaches a hook) kills the
    // process, as in lua.c.
    signal(sig, SIG_DFL);
    lua_sethook(interrupt_L, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

// Message handler: the error message followed by a traceback (lua.c's msghandler).
static int traceback_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/*** Calls fn(...) as pcall does, but a Ctrl-C while it runs raises "interrupted!" inside it
(a second Ctrl-C kills the process, as in lua.c), and the error message carries a traceback.
@function pcall_interruptible
@tparam function fn
@param ... its arguments
@treturn boolean whether fn returned without an error
@return fn's results, or the error message with a traceback
*/
static int l_pcall_interruptible(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, 1);
    int nargs = lua_gettop(L) - 2;

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_run_sigint;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    lua_State *outer = interrupt_L;
    interrupt_L = L;
    sigaction(SIGINT, &sa, &old);
    int status = lua_pcall(L, nargs, LUA_MULTRET, 1);
    sigaction(SIGINT, &old, NULL);
    interrupt_L = outer;
    // A Ctrl-C that came just as the chunk ended leaves the hook set: drop it, but only
    // ours, not a debug hook the user installed.
    if (lua_gethook(L) == interrupt_hook) lua_sethook(L, NULL, 0, 0);

    luaL_checkstack(L, 1, "too many results");
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 1);  // the handler's slot becomes the status
    return lua_gettop(L);
}

static const luaL_Reg readline_functions[] = {
    {"readline", l_readline},
    {"add_history", l_add_history},
    {"read_history", l_read_history},
    {"write_history", l_write_history},
    {"set_completer", l_set_completer},
    {"isatty", l_isatty},
    {"pcall_interruptible", l_pcall_interruptible},
    {NULL, NULL},
};

void gl_register_readline(lua_State *L, const gl_tables *t) {
    luaL_newlib(L, readline_functions);
    lua_setfield(L, t->module, "readline");
}
