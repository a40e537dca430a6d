// Part of the controller: the owner's read-only watch links of the session (create, list, revoke).
// The share view renders `state.watchLinks`.
import { state, update } from "../state.js";

export function createShare({ api, guard }) {
  async function refresh() {
    const r = await api.watchLinks(state.session.id);
    update({ watchLinks: r.links });
  }
  return {
    onShareOpen: () => guard("Could not list the watch links", refresh),
    onShareCreate: () => guard("Could not create a watch link", async () => {
      await api.createWatchLink(state.session.id);
      await refresh();
    }),
    onShareRevoke: (token) => guard("Could not revoke the watch link", async () => {
      await api.revokeWatchLink(state.session.id, token);
      await refresh();
    }),
  };
}
