// The terminal's front-end dependencies (package.json), bundled by `npm run build` into
// static/dist/xterm.js and static/dist/xterm.css for app.js, which finds them as window.Xterm.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";

window.Xterm = { Terminal, FitAddon };
