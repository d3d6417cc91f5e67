package datahub

import (
	"os"
	"testing"
)

func TestErrorBodiesInEveryShape(t *testing.T) {
	for file, want := range map[string]string{
		"sync-error_single_duplicate-message-id.json": "HTTP 400 00101: Message id '78954612' is not unique (target MessageId)",
		"sync-error_multiple.json": "HTTP 400 BadRequest: Multiple errors in message; 00002: Sender id does not match id of current authenticated user (target SenderId); " +
			"00403: The business type 23X is not supported (target BusinessType)",
		"sync-error_multiple.xml": "HTTP 400 BadRequest: Multiple errors in message; 00302: The element 'Series' in namespace 'urn:ediel.org:measure:requestaggregatedmeasuredata:0:1' has invalid child element 'foo'.; " +
			"00201: The id of the message cannot be empty (target MessageId)",
		"documented-error-format_wiki.json": "HTTP 400 BadArgument: Message-id previously used [MessageIdPreviousUsed]",
		"http-500_unexpected.json":          "HTTP 400: An unexpected error occurred! Please try later.",
		"http-415_missing-content-type.txt": "HTTP 400: Could not get Content-Type from request header. The supported values are: application/xml, application/json, application/ebix",
	} {
		b, err := os.ReadFile("testdata/errors/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if got := ParseAPIError(400, b).Error(); got != want {
			t.Errorf("%s:\n got %s\nwant %s", file, got, want)
		}
	}
	if got := ParseAPIError(502, []byte("<html><body>Bad gateway</body></html>")).Error(); got != "HTTP 502: <html><body>Bad gateway</body></html>" {
		t.Errorf("html body: %s", got)
	}
}
