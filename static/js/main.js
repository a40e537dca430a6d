// Wiring: build the views with the controller's intents, hand the controller the views it
// feeds, and start. Views never call the server; the controller never draws.
import { Player } from "./animation/player.js";
import { createController } from "./control/controller.js";
import { blocksOf, state, subscribe, update } from "./state.js";
import { cssVar } from "./util/dom.js";
import { saveSvg } from "./util/download.js";
import { createAblation } from "./views/ablation.js";
import { createAttentionView } from "./views/attention.js";
import { createContextView } from "./views/context.js";
import { createControls } from "./views/controls.js";
import { createDiagram, drawLegend } from "./views/diagram.js";
import { createDynamics } from "./views/dynamics.js";
import { createFfnView } from "./views/ffn.js";
import { createHeader } from "./views/header.js";
import { createLossChart } from "./views/loss_chart.js";
import { createPhaseText } from "./views/phase_text.js";
import { createPredict } from "./views/predict.js";
import { createRunsView } from "./views/runs.js";
import { createScrubber } from "./views/scrubber.js";
import { createSettings } from "./views/settings.js";
import { createShareView } from "./views/share.js";
import { createStatus } from "./views/status.js";
import { createTabs } from "./views/tabs.js";
import { createTour } from "./views/tour.js";
import { createWeightsView } from "./views/weights.js";

const el = (id) => document.getElementById(id);

function buildViews(intents, urls) {
  const status = createStatus(el("toasts"), el("tasks"));
  const onError = (err) => status.error(err);
  const diagram = createDiagram(el("diagram"), { onSelectWeight: intents.onSelectWeight });
  drawLegend(el("diagram-legend"));
  const controls = createControls(el("player"), el("counters"), { ...intents, onLive: intents.onLive });
  const phaseText = createPhaseText(el("phase-text"));
  const player = new Player({
    setPhase: (p, t, r) => diagram.setPhase(p, t, r),
    idle: () => diagram.idle(),
  }, {
    onCount: controls.setCounts,
    onPhase: (phase, record, waiting) => {
      controls.setPhase(phase, waiting, true);
      phaseText.show(phase, record, waiting);
      update({ phase });
    },
  });
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  if (reducedMotion.matches) intents.onSpeed(0); // no moving dashes; step-through still shows each phase
  const views = {
    status,
    diagram,
    controls,
    phaseText,
    player,
    predict: createPredict(el("predict"), { onPredictToggle: intents.onPredictToggle }),
    header: createHeader(el("session-chip")),
    tabs: createTabs(el("tabs"), intents.onTab),
    chart: createLossChart(el("loss-chart"), onError, el("overfit-note")),
    attention: createAttentionView(el("panel-attention"), intents),
    weights: createWeightsView(el("panel-weights"), { onSelectWeight: intents.onSelectWeight, onMode: intents.onWeightMode,
      onGradcheck: intents.onGradcheck }),
    ffn: createFfnView(el("panel-ffn"), intents),
    dynamics: createDynamics(el("panel-dynamics"), { onError }),
    context: createContextView(el("context-words"), { onRun: intents.onContexts, onStop: intents.onStopContexts }),
    ablation: createAblation(el("context-ablation"), { onRun: intents.onCompare, onError }),
    scrubber: createScrubber(el("scrubber-bar"), { onScrub: intents.onScrub, onLive: intents.onLive, onOpen: intents.onOpenHistory }),
    settings: createSettings(el("panel-settings"), { onCreate: intents.onCreate, onCompare: intents.onCompare,
      onImport: intents.onImport, urls }),
  };
  views.runs = createRunsView(el("runs"), views.chart, intents);
  views.share = createShareView(el("share"), intents); // last: a watch page takes the owner's controls out
  views.tour = createTour(el("tour"), el("caption"), tourContext(views, intents));
  return views;
}

function tourContext(views, intents) {
  return {
    highlight: (ids, panel) => {
      views.diagram.highlight(ids);
      for (const node of document.querySelectorAll(".spotlight")) node.classList.remove("spotlight");
      if (panel) el(panel).classList.add("spotlight");
    },
    openTab: (name) => intents.onTab(name),
    onError: (err) => views.status.error(err),
    showWeight: (short, mode) => {
      const name = blocksOf()[0]?.weights[short];
      update({ weightMode: mode });
      if (name && state.session.shapes[name]) intents.onSelectWeight(name);
    },
    ...intents.tour,
  };
}

const controller = createController();
const views = buildViews(controller.intents, controller.urls);
controller.attach(views);
el("btn-tour").addEventListener("click", () => views.tour.start());
el("png-diagram").addEventListener("click", () => saveSvg(el("diagram"), "attnflow-diagram.png", cssVar("--panel")));
el("png-loss").addEventListener("click", () => views.chart.png());
subscribe(["selectedWeight"], () => views.diagram.select(state.selectedWeight));
subscribe(["liveStep", "viewing", "session"], () => !state.phase && views.phaseText.show(null));
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => views.chart.retheme());
window.addEventListener("pagehide", () => controller.deleteOnUnload());
// For tests and the curious: the page state, the player's counts and the companion session.
window.attnflow = { state, player: views.player, companionId: controller.companionId };
controller.boot();
