// n1's health check: initiate rs0 once, then report healthy only while the set has a primary.
// Short electionTimeoutMillis (2 s instead of 10 s) so failovers happen within a test's fault
// window. rs.initiate is only attempted while the set is not yet initiated (code 94,
// NotYetInitialized), so re-runs of this check during a test never reconfigure the set.
let status;
try {
  status = db.adminCommand({ replSetGetStatus: 1 });
} catch (e) {
  status = { ok: 0, code: e.code };
}
if (status.ok !== 1 && status.code === 94) {
  rs.initiate({
    _id: "rs0",
    settings: { electionTimeoutMillis: 2000 },
    members: [
      { _id: 0, host: "n1:27017" },
      { _id: 1, host: "n2:27017" },
      { _id: 2, host: "n3:27017" },
    ],
  });
  quit(1); // healthy on a later run, once a primary is elected
}
const hasPrimary = status.ok === 1 && status.members.some((m) => m.stateStr === "PRIMARY");
quit(hasPrimary ? 0 : 1);
