// Writes tokens.css: Fluent 2's web light and dark themes as CSS custom properties, the same
// variables Fluent UI's own setTheme() defines. Run where @fluentui/tokens is installed:
//   npm install @fluentui/tokens@1.0.0-alpha.24 && node addin/taskpane/vendor/fluent-tokens/build.cjs
const fs = require("fs");
const path = require("path");
const { webLightTheme, webDarkTheme } = require("@fluentui/tokens");
const { version } = require("@fluentui/tokens/package.json");

const block = (theme) => Object.entries(theme).map(([name, value]) => `  --${name}: ${value};`).join("\n");
const css = `/* Generated from @fluentui/tokens ${version} (MIT, see LICENSE) by build.cjs; do not edit. */
:root {\n${block(webLightTheme)}\n  color-scheme: light;\n}
:root[data-theme="dark"] {\n${block(webDarkTheme)}\n  color-scheme: dark;\n}
@media (prefers-color-scheme: dark) {
:root:not([data-theme="light"]) {\n${block(webDarkTheme)}\n  color-scheme: dark;\n}
}
`;
fs.writeFileSync(path.join(__dirname, "tokens.css"), css);
