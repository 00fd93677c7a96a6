import { apiFetch } from "./client";

export type Product = {
  id: string;
  slug: string;
  name: string;
  description: string;
  priceCents: number;
  imageUrl: string;
  stock: number;
};

export function listProducts(params: { search?: string } = {}): Promise<Product[]> {
  const query = params.search ? `?search=${encodeURIComponent(params.search)}` : "";
  return apiFetch<Product[]>(`/products${query}`);
}

export function getProduct(slug: string): Promise<Product> {
  return apiFetch<Product>(`/products/${encodeURIComponent(slug)}`);
}
