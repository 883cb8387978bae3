// Command goclient is a client team's program on the client oapi-codegen
// generates from api/openapi.bundled.yaml (client.gen.go beside it, made
// by TestGeneratedClients): it places an order with an extra field and
// reads the 201, asks for today's summary, and reads a problem. It prints
// what it read as JSON lines; any surprise is an error exit.
//
// usage: goclient URL
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(url string) error {
	ctx := context.Background()
	c, err := NewClientWithResponses(url)
	if err != nil {
		return err
	}
	order := CreateOrderJSONRequestBody{OrderId: 7, EmailVendedor: "Vendor_Go@Example.com", EmailCocinero: "cook_go@example.com", NumeroSopaipillas: 3}
	var nota OrderNest8
	if err := nota.FromOrderNest80("sin pebre"); err != nil {
		return err
	}
	order.Set("nota", nota)
	placed, err := c.CreateOrderWithResponse(ctx, nil, order)
	if err != nil {
		return fmt.Errorf("newOrder: %w", err)
	}
	if placed.JSON201 == nil {
		return fmt.Errorf("newOrder: %d %s", placed.StatusCode(), placed.Body)
	}
	got, ok := placed.JSON201.Order.Get("nota")
	if !ok {
		return fmt.Errorf("201 without nota: %s", placed.Body)
	}
	back, err := got.AsOrderNest80()
	if err != nil {
		return err
	}
	print("order", map[string]any{"event_id": placed.JSON201.EventId, "email_vendedor": placed.JSON201.Order.EmailVendedor, "nota": back})

	summary, err := c.SummarizeDayWithResponse(ctx, nil, SummarizeDayJSONRequestBody{})
	if err != nil {
		return fmt.Errorf("dailySummary: %w", err)
	}
	if summary.JSON200 == nil {
		return fmt.Errorf("dailySummary: %d %s", summary.StatusCode(), summary.Body)
	}
	sales := summary.JSON200.Summary.Ventas["vendor_go@example.com"]
	print("summary", map[string]any{"n_sopaipillas": sales.NSopaipillas, "n_ordenes": sales.NOrdenes, "report_status": summary.JSON200.ReportStatus})

	order.NumeroSopaipillas = 0
	refused, err := c.CreateOrderWithResponse(ctx, nil, order)
	if err != nil {
		return fmt.Errorf("newOrder: %w", err)
	}
	p := refused.ApplicationproblemJSON422
	if p == nil || p.Errors == nil || len(*p.Errors) == 0 {
		return fmt.Errorf("newOrder: want a 422 problem, got %d %s", refused.StatusCode(), refused.Body)
	}
	print("problem", map[string]any{"status": p.Status, "field": (*p.Errors)[0].Field})
	return nil
}

func print(what string, v map[string]any) {
	v["what"] = what
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}
