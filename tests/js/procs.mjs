// Programs a JavaScript test starts: each logs to <dir>/<name>.log and its
// pid is appended to <dir>/processes.pids, so the test's shell wrapper can
// stop whatever node left behind (lib.sh stop_pids).
import { spawn } from 'node:child_process';
import { appendFileSync, openSync } from 'node:fs';
import { join } from 'node:path';

/** Starts `program args` with its output in dir/name.log; records it in
 *  `children` (for the test's own cleanup) and processes.pids. */
export function startLogged(dir, children, name, program, args) {
    const log = openSync(join(dir, `${name}.log`), 'a');
    const child = spawn(program, args, { stdio: ['ignore', log, log] });
    children.push(child);
    appendFileSync(join(dir, 'processes.pids'), `${child.pid}\n`);
    return child;
}
