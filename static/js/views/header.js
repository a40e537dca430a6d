// The session chip in the header.
export function createHeader(chip) {
  return {
    show(info) {
      chip.textContent = `${info.preset} · ${info.parameters.toLocaleString()} parameters · session ${info.id.slice(0, 6)}…`;
      chip.title = `Session ${info.id}. The page's address resumes it and records its settings.`;
    },
  };
}
