package statuspagefake

import "net/http"

// unresolvedIncidents answers GET /pages/{page}/incidents/unresolved: the
// page's incidents not resolved, newest first, as the API lists them.
func (s *Server) unresolvedIncidents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pages[r.PathValue("page")]
	if p == nil {
		writeError(w, http.StatusNotFound, "The requested resource could not be found.")
		return
	}
	out := []map[string]any{}
	for i := len(p.incOrder) - 1; i >= 0; i-- {
		if inc := p.incidents[p.incOrder[i]]; inc.Status != "resolved" {
			out = append(out, p.incidentJSON(inc))
		}
	}
	writeJSON(w, http.StatusOK, out)
}
