// Serves the sample's exported app (it has no listen() of its own) on loopback, one process.
// PORT 0 picks a free port; the one stdout line EXPRESS_READY <url> tells the benchmark.
import app from "./app.js";

const server = app.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  const { port } = server.address();
  console.log(`EXPRESS_READY http://127.0.0.1:${port}`);
});
